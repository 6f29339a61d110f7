"""The prediction log: one CloudEvent per line per the contract, bounded by rotation, and a
failing write never fails a request."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from pipeline.serving.prediction_log import FILE_NAME, PredictionLog, event

ROW = {"island": "Dream", "bill_length_mm": 49.0, "bill_depth_mm": 19.5,
       "flipper_length_mm": 210, "body_mass_g": 3950, "sex": "male", "year": 2008}
CONTRACT_KEYS = {"specversion", "id", "type", "source", "time", "datacontenttype",
                 "inferenceservicename", "endpoint", "component", "data"}


def read_events(folder):
    with open(os.path.join(folder, FILE_NAME), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.e2e
def test_each_request_and_response_is_one_event_sharing_the_request_id(serve):
    served = serve(seeds=(42, 7))
    given = served.client.post(f"{served.model_url}:predict", json={"instances": [ROW, ROW]},
                               headers={"X-Request-Id": "req-1"})
    assert given.headers["X-Request-Id"] == "req-1"
    fresh = served.client.post(f"{served.model_url}:predict",
                               json={"signature_name": "serving_raw", "instances": [ROW]})
    new_id = fresh.headers["X-Request-Id"]
    assert uuid.UUID(new_id).version == 4
    served.running.log.flush()
    events = read_events(served.cfg.prediction_log_dir)
    assert [(e["id"], e["type"].rsplit(".", 1)[1]) for e in events] == [
        ("req-1", "request"), ("req-1", "response"), (new_id, "request"), (new_id, "response")]
    for e in events:
        assert set(e) == CONTRACT_KEYS
        assert e["specversion"] == "1.0" and e["component"] == "predictor"
        assert e["endpoint"] == "2" and e["inferenceservicename"] == "penguins"
        assert e["source"] == f"http://127.0.0.1:{served.cfg.serving.port}/v1/models/penguins"
        assert e["time"].endswith("Z") and e["datacontenttype"] == "application/json"
    assert events[0]["data"] == {"instances": [ROW, ROW]}
    assert events[1]["data"] == given.json()
    assert events[2]["data"] == {"signature_name": "serving_raw", "instances": [ROW]}
    metrics = served.client.get("/metrics").text
    assert "serving_prediction_log_events_total 4.0" in metrics


@pytest.mark.e2e
def test_a_failing_log_write_drops_the_event_not_the_request(serve):
    served = serve()
    os.makedirs(os.path.join(served.cfg.prediction_log_dir, FILE_NAME))  # cannot be opened
    answer = served.client.post(f"{served.model_url}:predict", json={"instances": [ROW]})
    assert answer.status_code == 200 and "predictions" in answer.json()
    served.running.log.flush()
    metrics = served.client.get("/metrics").text
    assert 'serving_prediction_log_dropped_total{reason="write_error"} 2.0' in metrics


@pytest.mark.e2e
def test_kserve_logger_cloudevents_are_appended(serve):
    """A binary-mode CloudEvent as KServe's payload logger posts it."""
    served = serve()
    headers = {"ce-specversion": "1.0", "ce-id": "kserve-7", "ce-source": "http://localhost:9081/",
               "ce-type": "org.kubeflow.serving.inference.request",
               "ce-inferenceservicename": "penguins", "ce-endpoint": "default",
               "ce-component": "predictor", "ce-time": "2026-12-05T00:00:00Z",
               "content-type": "application/json"}
    posted = served.client.post("/v1/events", content=json.dumps({"instances": [ROW]}),
                                headers=headers)
    assert posted.status_code == 202
    missing = served.client.post("/v1/events", content=b"{}",
                                 headers={k: v for k, v in headers.items() if k != "ce-id"})
    assert missing.status_code == 400 and missing.json()["error"].startswith("ce-id:")
    served.running.log.flush()
    (logged,) = read_events(served.cfg.prediction_log_dir)
    assert logged == {"specversion": "1.0", "id": "kserve-7", "source": "http://localhost:9081/",
                      "type": "org.kubeflow.serving.inference.request",
                      "inferenceservicename": "penguins", "endpoint": "default",
                      "component": "predictor", "time": "2026-12-05T00:00:00Z",
                      "datacontenttype": "application/json", "data": {"instances": [ROW]}}


def test_rotation_keeps_at_most_max_files_of_at_most_max_bytes(tmp_path):
    dropped = []
    log = PredictionLog(str(tmp_path), max_bytes=2_000, max_files=3, queue_size=1000,
                        on_drop=dropped.append)
    for n in range(100):
        log.append(event("org.kubeflow.serving.inference.request", f"id-{n}", "http://x",
                         "penguins", 1, {"instances": [ROW]}))
    log.append(event("t", "huge", "http://x", "penguins", 1, {"blob": "x" * 5_000}))
    log.flush()
    names = sorted(os.listdir(tmp_path))
    assert names == [FILE_NAME, f"{FILE_NAME}.1", f"{FILE_NAME}.2"]
    assert all(os.path.getsize(tmp_path / n) <= 2_000 for n in names)
    assert dropped == ["too_large"]
    # The newest events are kept, oldest in the highest number, in order.
    ids = []
    for name in reversed(names):
        with open(tmp_path / name, encoding="utf-8") as f:
            ids += [json.loads(line)["id"] for line in f]
    assert ids == [f"id-{n}" for n in range(100 - len(ids), 100)]


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path):
    dropped = []
    log = PredictionLog(str(tmp_path), max_bytes=10_000_000, max_files=2, queue_size=1,
                        on_drop=dropped.append)
    for n in range(2_000):
        log.append({"id": n})
    log.flush()
    with open(tmp_path / FILE_NAME, encoding="utf-8") as f:
        written = sum(1 for _ in f)
    assert dropped and set(dropped) == {"queue_full"}
    assert written + len(dropped) == 2_000
