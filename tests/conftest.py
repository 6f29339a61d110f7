"""Shared fixtures: the bundled data, and a real Transform output built from it."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "penguins")
SCHEMA = os.path.join(ROOT, "schema", "schema.pbtxt")
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")  # screenshots and logs kept for people


def span_file(span: int) -> str:
    return os.path.join(DATA, f"span-{span}", "penguins.csv")


@pytest.fixture(scope="session")
def transform_output(tmp_path_factory):
    """Analyzes span 1 with the real preprocessing_fn and returns (TFTransformOutput, rows)."""
    import tensorflow_transform as tft

    from tests.components.transform_util import analyze_and_transform

    out = str(tmp_path_factory.mktemp("transform"))
    rows = analyze_and_transform(span_file(1), out)
    return tft.TFTransformOutput(out), rows


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from Debian's package, network blocked (see tests/browser.py)."""
    from tests.browser import Chromium, chromium_binary

    if chromium_binary() is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    with Chromium() as b:
        yield b


@pytest.fixture(scope="session")
def minio(tmp_path_factory):
    """A real MinIO server on 127.0.0.1 for the session (`make test` installs it: make minio)."""
    from kubeflow.replay.objectstore import MinioServer, ObjectStoreError

    try:
        server = MinioServer(str(tmp_path_factory.mktemp("minio") / "data"))
    except ObjectStoreError as e:
        pytest.fail(f"{e} (`make test` does this first)")
    with server:
        yield server.credentials


@pytest.fixture
def object_store(minio):
    from kubeflow.replay.objectstore import ObjectStore

    return ObjectStore(minio)
