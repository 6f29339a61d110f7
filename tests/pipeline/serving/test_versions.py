"""A push or a rollback is served without a restart; a half-copied or broken version never is,
and the version before it keeps serving."""
from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.pipeline.serving.conftest import in_process

pytestmark = pytest.mark.e2e  # trains two small models once per session


def predict(served, rows):
    answer = served.client.post(f"{served.model_url}:predict",
                                json={"instances": [raw for _, raw in rows]})
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"], answer.headers


def probabilities(exported_models, seed, rows):
    return in_process(exported_models[seed], "serving_default",
                      examples=[s for s, _ in rows])["probabilities"]


def close_to(predictions, expected) -> bool:
    return all(abs(a - b) < 1e-5 for row, want in zip(predictions, expected)
               for a, b in zip(row["probabilities"], want))


def test_a_push_then_a_rollback_are_served_without_a_restart(serve, exported_models, rows):
    from components.lib.serving_store import push
    from pipeline.ops import rollback

    served = serve(seeds=(42,))
    batch = rows[:5]
    first, second = (probabilities(exported_models, s, batch) for s in (42, 7))
    assert not close_to([{"probabilities": p} for p in first], second)  # seeds differ
    assert close_to(predict(served, batch)[0], first)
    push(exported_models[7], served.cfg.serving_dir)
    served.wait_for_version(2)
    assert close_to(predict(served, batch)[0], second)
    done = rollback.rollback(served.cfg, 1, "test: the new model is worse")
    assert done.new_version == 3
    served.wait_for_version(3)
    assert close_to(predict(served, batch)[0], first)


def test_a_half_copied_version_is_not_served_until_complete(serve, exported_models, rows):
    """A version folder copied by hand, its variables still missing, fails to load: version 1
    keeps serving and the failure is counted; once the copy completes, it is served."""
    served = serve(seeds=(42,))
    batch = rows[:5]
    half = os.path.join(served.cfg.serving_dir, "2")
    os.makedirs(half)
    shutil.copy(os.path.join(exported_models[7], "saved_model.pb"), half)
    deadline = time.monotonic() + 30
    while 2 not in served.running.store.failed and time.monotonic() < deadline:
        assert close_to(predict(served, batch)[0], probabilities(exported_models, 42, batch))
        time.sleep(0.1)
    assert 2 in served.running.store.failed
    assert served.client.get(served.model_url).json()["model_version_status"][0]["version"] == "1"
    metrics = served.client.get("/metrics").text
    assert "serving_model_load_failures_total 1.0" in metrics
    refused = served.client.post(f"{served.model_url}/versions/2:predict",
                                 json={"instances": [batch[0][1]]})
    assert refused.status_code == 404 and "failed to load" in refused.json()["error"]
    for name in os.listdir(exported_models[7]):
        source = os.path.join(exported_models[7], name)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(half, name))
    served.wait_for_version(2)
    assert close_to(predict(served, batch)[0], probabilities(exported_models, 7, batch))


def test_a_staging_folder_is_never_loaded(serve, exported_models):
    """The Pusher copies into a hidden .staging folder first: it is not a version."""
    served = serve(seeds=(42,))
    shutil.copytree(exported_models[7], os.path.join(served.cfg.serving_dir, ".staging-2-1"))
    assert served.running.store.refresh() == 1
    assert served.running.store.refresh() == 1
