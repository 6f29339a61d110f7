"""Two small real models (seeds 42 and 7) exported by the user model code, trained once per
session, and a real server (uvicorn on a free port) over a push destination they are pushed to."""
from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

import pytest

from tests.conftest import DATA, SCHEMA, span_file

TRAIN_STEPS = 30
SEEDS = (42, 7)


@pytest.fixture(scope="session")
def exported_models(tmp_path_factory) -> Dict[int, str]:
    """{seed: SavedModel folder}, trained on span 1 for a few steps and exported by run_fn's
    export, with Transform's raw metadata as the Transform component writes it."""
    import tensorflow_transform as tft
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
    from tfx.utils import io_utils

    from components.user import model as model_lib
    from tests.components.user.test_model import SETTINGS, _dataset
    from tests.components.transform_util import analyze_and_transform

    base = tmp_path_factory.mktemp("models")
    transform_dir = str(base / "transform")
    rows = analyze_and_transform(span_file(1), transform_dir)
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(io_utils.SchemaReader().read(SCHEMA)),
        os.path.join(transform_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    tft_output = tft.TFTransformOutput(transform_dir)
    models = {}
    for seed in SEEDS:
        settings = {**SETTINGS, "seed": seed}
        model = model_lib.fit(tft_output, _dataset(rows), _dataset(rows), settings,
                              TRAIN_STEPS, 1)
        folder = str(base / f"seed-{seed}")
        model_lib.export(model, SimpleNamespace(transform_output=transform_dir,
                                                custom_config=settings, serving_model_dir=folder))
        models[seed] = folder
    return models


@pytest.fixture(scope="session")
def rows() -> List[Tuple[bytes, Dict[str, Any]]]:
    """Span 2's rows with every feature present: (serialized tf.Example, raw JSON row)."""
    import tensorflow as tf

    from components.lib.examples import read_csv_as_examples
    from tests.components.transform_util import raw_feature_spec

    spec = raw_feature_spec()
    spec.pop("species")
    found = []
    for serialized in read_csv_as_examples(span_file(2)):
        parsed = tf.io.parse_single_example(serialized, spec)
        values = {k: v.values.numpy() for k, v in parsed.items()}
        if all(len(v) == 1 for v in values.values()):
            found.append((serialized, {k: v[0].decode() if isinstance(v[0], bytes) else v[0].item()
                                       for k, v in values.items()}))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder: str, output_root: str, port: int, **serving: Any) -> str:
    """A config file for the bundled data with a fast poll and the given serving settings."""
    import yaml

    settings = {"poll_seconds": 0.1, "port": port, **serving}
    path = os.path.join(folder, "config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"output_root": output_root, "schema": SCHEMA, "data": {"root": DATA},
                        "serving": settings}, f)
    return path


@dataclass
class Served:
    url: str           # http://127.0.0.1:<port>
    model_url: str     # .../v1/models/penguins
    cfg: Any
    running: Any
    client: Any        # an httpx.Client on url

    def wait_for_version(self, version: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.client.get(self.model_url)
            if status.status_code == 200 and \
                    status.json()["model_version_status"][0]["version"] == str(version):
                return
            time.sleep(0.05)
        raise AssertionError(f"version {version} not served after {timeout}s: {status.text}")


class Servers:
    """Starts real servers (uvicorn in a thread, on a free port) under one folder; stops them
    all at ``close``."""

    def __init__(self, folder: str, exported_models: Dict[int, str]) -> None:
        self.folder, self.exported_models, self.started = folder, exported_models, []

    def start(self, seeds=(42,), **serving: Any) -> Served:
        """Pushes the models of ``seeds`` in order with the Pusher's push, then serves them."""
        import httpx
        import uvicorn

        from components.lib.serving_store import push
        from pipeline import config as config_lib
        from pipeline.serving import server

        folder = os.path.join(self.folder, f"server-{len(self.started)}")
        os.makedirs(folder)
        cfg = config_lib.load(write_config(folder, os.path.join(folder, "out"), free_port(),
                                           **serving))
        for seed in seeds:
            push(self.exported_models[seed], cfg.serving_dir)
        running = server.build(cfg)
        uv = uvicorn.Server(uvicorn.Config(running.server.app(), host="127.0.0.1",
                                           port=cfg.serving.port, log_level="warning",
                                           access_log=False))
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        while not uv.started:
            assert thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        url = f"http://127.0.0.1:{cfg.serving.port}"
        served = Served(url, f"{url}/v1/models/{cfg.pipeline_name}", cfg, running,
                        httpx.Client(base_url=url, timeout=60))
        self.started.append((uv, thread, served))
        return served

    def close(self) -> None:
        for uv, thread, served in self.started:
            served.client.close()
            uv.should_exit = True
            thread.join(10)
            served.running.close()


@pytest.fixture
def serve(tmp_path, exported_models):
    """serve(seeds=(42,), **serving settings): a real server for this test."""
    servers = Servers(str(tmp_path), exported_models)
    yield servers.start
    servers.close()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, exported_models):
    """One server (version 1, seed 42; max_body_bytes 20,000) for a module's tests that only
    send requests."""
    servers = Servers(str(tmp_path_factory.mktemp("shared")), exported_models)
    yield servers.start(max_body_bytes=20_000)
    servers.close()


def in_process(model_dir: str, signature: str, **columns: Any) -> Dict[str, Any]:
    """The SavedModel's outputs for ``columns``, called in this process (no server)."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    function = loaded.signatures[signature]
    _, specs = function.structured_input_signature
    outputs = function(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()})
    return {k: v.numpy() for k, v in outputs.items()}
