"""Shared fixtures: the bundled data, and a real Transform output built from it."""
from __future__ import annotations

import os

import components  # noqa: F401  (the Keras switch, before any test module imports TensorFlow)
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "penguins")
SCHEMA = os.path.join(ROOT, "schema", "schema.pbtxt")
# Where the report tests save screenshots and pages for a person to look at: $TEST_ARTIFACTS,
# or a folder in pytest's own temporary root (kept for the last three sessions). Never the
# checkout: tests write only under temporary folders.
ARTIFACTS_ENV = "TEST_ARTIFACTS"


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


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory, request) -> str:
    """The folder for screenshots and pages kept for people; named at the end of the session."""
    folder = os.environ.get(ARTIFACTS_ENV) or str(tmp_path_factory.getbasetemp() / "artifacts")
    os.makedirs(folder, exist_ok=True)
    request.config.stash[_ARTIFACTS_KEY] = folder
    return folder


_ARTIFACTS_KEY = pytest.StashKey[str]()


_WORKER_ARTIFACTS_KEY = pytest.StashKey[list]()


def pytest_sessionfinish(session) -> None:
    """An xdist worker hands its artifacts folder to the controller, which prints the summary."""
    folder = session.config.stash.get(_ARTIFACTS_KEY, None)
    if folder and hasattr(session.config, "workeroutput"):
        session.config.workeroutput["artifacts"] = folder


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """(xdist, controller side) A worker ended: keep the artifacts folder it used, if any."""
    folder = getattr(node, "workeroutput", {}).get("artifacts")
    if folder:
        node.config.stash.setdefault(_WORKER_ARTIFACTS_KEY, []).append(folder)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    folders = [config.stash.get(_ARTIFACTS_KEY, None),
               *config.stash.get(_WORKER_ARTIFACTS_KEY, [])]
    for folder in filter(None, folders):
        terminalreporter.write_line(f"Report screenshots and pages kept in {folder}")


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
