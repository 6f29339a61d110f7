"""Rollback on a real push destination and a real ML Metadata store."""
import json
import os

import pytest

from pipeline import config
from pipeline.metadata import catalog, mlmd, run_record
from pipeline.ops import rollback


@pytest.fixture
def cfg(tmp_path):
    cfg = config.load(None, {"output_root": str(tmp_path / "out")})
    for version in (1, 2):  # what VersionedPusher leaves: numbered folders with a SavedModel
        folder = os.path.join(cfg.serving_dir, str(version))
        os.makedirs(folder)
        with open(os.path.join(folder, "saved_model.pb"), "w") as f:
            f.write(f"model {version}")
    return cfg


def _content(cfg, version: int) -> str:
    with open(os.path.join(cfg.serving_dir, str(version), "saved_model.pb")) as f:
        return f.read()


def test_rollback_copies_the_previous_version_in_as_the_newest_and_records_it(cfg):
    done = rollback.rollback(cfg, None, "  accuracy dropped in production ")
    assert (done.from_version, done.to_version, done.new_version) == (2, 1, 3)
    assert _content(cfg, 3) == "model 1" and _content(cfg, 2) == "model 2"
    assert sorted(os.listdir(cfg.serving_dir)) == ["1", "2", "3"]  # no staging folder left
    with open(os.path.join(cfg.output_root, rollback.LOG_NAME)) as f:
        (line,) = f.read().splitlines()
    logged = json.loads(line)
    assert logged["reason"] == "accuracy dropped in production"
    assert logged["user"] == run_record.current_user() and logged["to_version"] == 1
    with mlmd.open_store(cfg.metadata_path) as store:
        (recorded,) = catalog.rollbacks(catalog.Graph(store))
        (execution,) = store.get_executions_by_type(catalog.ROLLBACK_TYPE)
        outputs = catalog.Graph(store).outputs(execution.id)["pushed_model"]
    assert recorded["from_version"] == 2 and recorded["new_version"] == 3
    assert recorded["host"] == run_record.who()["host"]
    assert mlmd.prop(outputs[0], "pushed_version") == "3"
    assert mlmd.prop(outputs[0], "restored_version") == 1


def test_rollback_to_a_named_version_then_again_chains(cfg):
    assert rollback.rollback(cfg, 1, "bad push").new_version == 3
    second = rollback.rollback(cfg, 2, "it was fine after all")
    assert (second.from_version, second.new_version) == (3, 4)
    assert _content(cfg, 4) == "model 2"


@pytest.mark.parametrize("to, reason, message", [
    (2, "x", "version 2 is already serving"),
    (7, "x", "no version 7 (versions: 1, 2)"),
    (None, " ", "--reason"),
])
def test_bad_rollbacks_say_why_and_change_nothing(cfg, to, reason, message):
    with pytest.raises(rollback.RollbackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rollback.rollback(cfg, to, reason)
    assert sorted(os.listdir(cfg.serving_dir)) == ["1", "2"]


def test_nothing_earlier_to_roll_back_to(tmp_path):
    cfg = config.load(None, {"output_root": str(tmp_path)})
    with pytest.raises(rollback.RollbackError, match="no pushed version"):
        rollback.rollback(cfg, None, "why")


def test_after_a_rollback_the_next_run_keys_its_baseline_on_the_restored_version(cfg):
    """The Rollback's push was evaluated by no run (it has no run context): the next run's
    ServingBaseline is keyed on the version now serving, so it evaluates against it."""
    from ml_metadata.proto import metadata_store_pb2

    from pipeline.local import runner

    rollback.rollback(cfg, 1, "bad push")
    assert runner.serving_state(cfg) == "version=3"
    # The same once runs are recorded in the store (as after any `run`).
    with mlmd.open_store(cfg.metadata_path) as store:
        type_id = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
        store.put_contexts([metadata_store_pb2.Context(type_id=type_id, name="a-run")])
    assert runner.serving_state(cfg) == "version=3"
