"""TF Serving's REST API on a real model over real HTTP: status, metadata, predict in every
request form, with the same outputs as the SavedModel called in-process."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.pipeline.serving.conftest import in_process

pytestmark = pytest.mark.e2e  # trains two small models once per session


def b64(serialized: bytes) -> dict:
    return {"b64": base64.b64encode(serialized).decode()}


def expected(exported_models, rows, seed=42):
    return in_process(exported_models[seed], "serving_default",
                      examples=[serialized for serialized, _ in rows])


def assert_rows_equal(predictions, outputs):
    assert len(predictions) == len(outputs["class_ids"])
    for i, row in enumerate(predictions):
        assert row["class_ids"] == int(outputs["class_ids"][i])
        assert row["classes"] == outputs["classes"][i].decode()
        np.testing.assert_allclose(row["probabilities"], outputs["probabilities"][i], rtol=1e-6)


def test_status_and_version_status(serve):
    served = serve(seeds=(42, 7))
    body = served.client.get(served.model_url).json()
    assert body == {"model_version_status": [{"version": "2", "state": "AVAILABLE",
                                              "status": {"error_code": "OK", "error_message": ""}}]}
    assert served.client.get(f"{served.model_url}/versions/2").json() == body
    missing = served.client.get(f"{served.model_url}/versions/1")
    assert missing.status_code == 404 and "version 1" in missing.json()["error"]
    other = served.client.get(f"{served.url}/v1/models/other")
    assert other.status_code == 404 and "'other'" in other.json()["error"]


def test_metadata_lists_both_prediction_signatures(serve):
    served = serve()
    body = served.client.get(f"{served.model_url}/metadata").json()
    assert body["model_spec"] == {"name": "penguins", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(defs) == ["serving_default", "serving_raw"]
    examples = defs["serving_default"]["inputs"]["examples"]
    assert examples["dtype"] == "DT_STRING" and examples["tensor_shape"]["dim"][0]["size"] == "-1"
    assert defs["serving_raw"]["inputs"]["body_mass_g"]["dtype"] == "DT_INT64"
    assert defs["serving_raw"]["inputs"]["island"]["dtype"] == "DT_STRING"
    assert sorted(defs["serving_raw"]["outputs"]) == ["class_ids", "classes", "probabilities"]
    assert defs["serving_default"]["outputs"]["probabilities"]["dtype"] == "DT_FLOAT"


def test_predict_b64_instances_equal_the_in_process_model(serve, exported_models, rows):
    served = serve()
    batch = rows[:25]
    answer = served.client.post(f"{served.model_url}:predict",
                                json={"instances": [b64(s) for s, _ in batch]})
    assert answer.status_code == 200, answer.text
    assert_rows_equal(answer.json()["predictions"], expected(exported_models, batch))
    named = served.client.post(f"{served.model_url}/versions/1:predict",
                               json={"instances": [{"examples": b64(s)} for s, _ in batch]})
    assert named.json() == answer.json()


def test_predict_inputs_columns(serve, exported_models, rows):
    served = serve()
    batch = rows[:7]
    answer = served.client.post(f"{served.model_url}:predict",
                                json={"inputs": {"examples": [b64(s) for s, _ in batch]}})
    outputs = answer.json()["outputs"]
    want = expected(exported_models, batch)
    assert outputs["class_ids"] == want["class_ids"].tolist()
    np.testing.assert_allclose(outputs["probabilities"], want["probabilities"], rtol=1e-6)


def test_raw_rows_give_the_tf_example_outputs(serve, exported_models, rows):
    """Plain JSON rows go to serving_raw (picked automatically, or by signature_name), and
    answer exactly what serving_default answers for the same rows."""
    served = serve()
    batch = rows[:40]
    want = expected(exported_models, batch)
    auto = served.client.post(f"{served.model_url}:predict",
                              json={"instances": [raw for _, raw in batch]})
    assert auto.status_code == 200, auto.text
    assert_rows_equal(auto.json()["predictions"], want)
    named = served.client.post(f"{served.model_url}:predict", json={
        "signature_name": "serving_raw", "instances": [raw for _, raw in batch]})
    assert named.json() == auto.json()
    columns = {k: [raw[k] for _, raw in batch] for k in batch[0][1]}
    by_column = served.client.post(f"{served.model_url}:predict", json={"inputs": columns})
    assert by_column.json()["outputs"]["class_ids"] == want["class_ids"].tolist()
    single = served.client.post(f"{served.model_url}:predict", json={"instances": [batch[3][1]]})
    assert single.json()["predictions"] == [auto.json()["predictions"][3]]


def test_metrics_count_requests_errors_and_the_version(serve, rows):
    served = serve(seeds=(42, 7))
    for _ in range(3):
        served.client.post(f"{served.model_url}:predict", json={"instances": [rows[0][1]]})
    served.client.post(f"{served.model_url}:predict", content=b"{not json")
    page = served.client.get("/metrics").text
    lines = dict(line.rsplit(" ", 1) for line in page.splitlines() if line and line[0] != "#")
    assert float(lines['serving_requests_total{code="200",route="predict"}']) == 3
    assert float(lines['serving_errors_total{code="400",route="predict"}']) == 1
    assert float(lines['serving_request_seconds_count{route="predict"}']) == 4
    assert float(lines["serving_model_version"]) == 2
    assert float(lines["serving_predicted_rows_total"]) == 3


def test_the_serve_command_serves_the_pushed_model(tmp_path, exported_models, rows):
    """``python -m pipeline serve`` as a user starts it: its port flag, its startup lines."""
    import subprocess
    import sys
    import time

    import httpx

    from components.lib.serving_store import push
    from tests.conftest import ROOT
    from tests.pipeline.serving.conftest import free_port, write_config

    out = str(tmp_path / "out")
    push(exported_models[7], f"{out}/serving")
    config, port = write_config(str(tmp_path), out, 1), free_port()
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--config", config,
                                "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1/models/penguins"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            try:
                if httpx.get(url).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        answer = httpx.post(f"{url}:predict", json={"instances": [rows[0][1]]})
        want = expected(exported_models, rows[:1], seed=7)
        assert_rows_equal(answer.json()["predictions"], want)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert f"Model server for {out}/serving at {url}" in output
    assert "Serving version 1 of penguins" in output
