"""The whole loop through the CLI and the real model server: train and push, serve, traffic with
a shifted feature and ground truth that proves the model wrong, ``monitor`` flags both, the
labelled rows become the next span, a retrain is evaluated against the model serving, and the
running server answers with what the gate decided, without a restart."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from pipeline.local import watch
from tests.conftest import ROOT, SCHEMA, span_file
from tests.e2e.helpers import STEPS, cli
from tests.pipeline.serving.conftest import free_port
from tests.pipeline.serving.traffic_log import schema_rows

pytestmark = pytest.mark.e2e
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
BATCH = 5


def _wait_for_version(client, url: str, version: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = client.get(url)
            if last.status_code == 200 and \
                    last.json()["model_version_status"][0]["version"] == str(version):
                return
        except Exception as e:  # noqa: BLE001 - the server is still starting
            last = e
        time.sleep(0.2)
    raise AssertionError(f"version {version} not served after {timeout}s: {last}")


def _shifted_traffic():
    """Complete rows of span 3 from one island only (the served island mix is skewed), with
    the species each row really is."""
    rows = [r for r in schema_rows(span_file(3), SCHEMA)
            if r["island"] == "Biscoe" and all(v is not None for v in r.values())]
    assert len(rows) >= 30, len(rows)
    return rows


def _read_events(serving: str):
    with open(os.path.join(serving, "log", "events.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_train_serve_monitor_export_retrain_and_serve_the_new_version(tmp_path):
    import httpx

    data, out = str(tmp_path / "data"), str(tmp_path / "out")
    shutil.copytree(os.path.join(ROOT, "data", "penguins"), data)
    first = cli("run", "--data", data, "--output-root", out, *STEPS)
    assert first.returncode == 0, first.stdout + first.stderr
    serving = os.path.join(out, "serving")
    assert sorted(os.listdir(serving)) == ["1"]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--output-root", out, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    model_url = f"http://127.0.0.1:{port}/v1/models/penguins"
    try:
        with httpx.Client(timeout=60) as client:
            _wait_for_version(client, model_url, 1)

            # Traffic: raw rows in batches, each request with its own id; ground truth that
            # swaps the species, so the served model is wrong on every labelled row.
            rows = _shifted_traffic()
            labels = []
            for start in range(0, len(rows), BATCH):
                batch = rows[start:start + BATCH]
                ident = f"loop-{start // BATCH}"
                answer = client.post(f"{model_url}:predict", headers={"X-Request-Id": ident},
                                     json={"instances": [{k: v for k, v in r.items()
                                                          if k != "species"} for r in batch]})
                assert answer.status_code == 200, answer.text
                assert answer.headers["X-Request-Id"] == ident
                assert len(answer.json()["predictions"]) == len(batch)
                labels += [{"id": f"{ident}/{i}",
                            "label": CLASSES[(CLASSES.index(r["species"]) + 1) % 3]}
                           for i, r in enumerate(batch)]
            sent = client.post(f"{model_url}/labels", json=labels)
            assert sent.status_code == 200, sent.text

            # The server's log holds one request and one response event per request.
            deadline = time.monotonic() + 30
            while len(_read_events(serving)) < 2 * -(-len(rows) // BATCH):
                assert time.monotonic() < deadline, "the prediction log did not fill"
                time.sleep(0.2)
            events = _read_events(serving)
            assert {e["endpoint"] for e in events} == {"1"}

            # monitor reads the server's log: skew on island, and the accuracy drop.
            report = str(tmp_path / "monitor.json")
            checked = cli("monitor", "--output-root", out, "--report", report)
            assert checked.returncode == 1, checked.stdout + checked.stderr
            skew = next(line for line in checked.stdout.splitlines() if line.startswith("SKEW:"))
            assert "island" in skew
            assert any(line.startswith("PERFORMANCE:") for line in checked.stdout.splitlines())
            with open(report, encoding="utf-8") as f:
                found = json.load(f)
            assert "skew:island" in found["flagged"] and "performance" in found["flagged"]
            assert found["performance"]["rows"] == len(rows)
            assert found["served_by"] == {"1": len(rows)}

            # The labelled rows become span 4; the retrain reads it and is evaluated against
            # version 1, which the new ground truth proves wrong.
            exported = cli("traffic", "to-span", "--output-root", out, "--data", data)
            assert exported.returncode == 0, exported.stdout + exported.stderr
            assert f"Wrote span 4: {len(rows)} labelled served rows" in exported.stdout
            second = cli("run", "--data", data, "--output-root", out, *STEPS)
            assert second.returncode == 0, second.stdout + second.stderr
            assert watch.trained_spans(os.path.join(out, "metadata.sqlite"), data) >= {4}
            versions = sorted(name for name in os.listdir(serving) if name.isdigit())
            assert versions == ["1", "2"], second.stdout

            # The running server picks version 2 up and logs it as the answering version.
            _wait_for_version(client, model_url, 2)
            answer = client.post(f"{model_url}:predict", headers={"X-Request-Id": "after"},
                                 json={"instances": [{k: v for k, v in rows[0].items()
                                                      if k != "species"}]})
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 30
            while not any(e["id"] == "after" and e["type"].endswith(".response")
                          for e in _read_events(serving)):
                assert time.monotonic() < deadline, "the new request was not logged"
                time.sleep(0.2)
            after = [e for e in _read_events(serving) if e["id"] == "after"]
            assert {e["endpoint"] for e in after} == {"2"}
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Serving version 2 of penguins" in output, output
