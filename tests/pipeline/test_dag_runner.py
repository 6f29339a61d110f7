"""ForkingDagRunner on small pipelines of TFX function components with real SQLite ML Metadata:
independent nodes overlap, dependent ones wait, and a failure stops the run cleanly."""

import json
import os
import time

import pytest
from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter, component

from pipeline import mlmd
from pipeline.dag_runner import ForkingDagRunner, NodeFailed

RUN_ID = "test-run"


def _record(log_dir: str, name: str, start: float) -> None:
    with open(os.path.join(log_dir, name), "w") as f:
        json.dump({"start": start, "end": time.time(), "pid": os.getpid()}, f)


@component
def Source(log_dir: Parameter[str], out: OutputArtifact[standard_artifacts.Model]) -> None:
    _record(log_dir, "Source", time.time())


@component
def Work(log_dir: Parameter[str], name: Parameter[str], seconds: Parameter[float],
         fail: Parameter[int], source: InputArtifact[standard_artifacts.Model],
         out: OutputArtifact[standard_artifacts.Model]) -> None:
    start = time.time()
    time.sleep(seconds)
    if fail:
        raise ValueError(f"{name} found bad data")
    _record(log_dir, name, start)


@component
def Join(log_dir: Parameter[str], left: InputArtifact[standard_artifacts.Model],
         right: InputArtifact[standard_artifacts.Model]) -> None:
    _record(log_dir, "Join", time.time())


def _run(tmp_path, fail_left: bool, fail_right: bool = False, gates=()):
    log_dir = str(tmp_path / "log")
    os.makedirs(log_dir)
    source = Source(log_dir=log_dir)
    left = Work(log_dir=log_dir, name="Left", seconds=0.2 if fail_left else 1.5,
                fail=int(fail_left), source=source.outputs["out"]).with_id("Left")
    right = Work(log_dir=log_dir, name="Right", seconds=1.5, fail=int(fail_right),
                 source=source.outputs["out"]).with_id("Right")
    join = Join(log_dir=log_dir, left=left.outputs["out"], right=right.outputs["out"])
    db = str(tmp_path / "metadata.sqlite")
    pipe = tfx_pipeline.Pipeline(
        pipeline_name="forking", pipeline_root=str(tmp_path / "root"),
        components=[source, left, right, join], enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(db))
    runner = ForkingDagRunner()
    runner.run_id = RUN_ID
    runner.gates = gates
    error = None
    try:
        runner.run_with_ir(compiler.Compiler().compile(pipe))
    except NodeFailed as e:
        error = e
    times = {name: json.load(open(os.path.join(log_dir, name))) for name in os.listdir(log_dir)}
    with mlmd.open_store(db) as store:
        nodes = mlmd.run_nodes(store, RUN_ID)
    return times, nodes, error


def test_independent_nodes_overlap_and_dependent_nodes_wait(tmp_path):
    times, nodes, error = _run(tmp_path, fail_left=False)
    assert error is None
    assert {n: nodes[n].state for n in nodes} == dict.fromkeys(
        ["Source", "Left", "Right", "Join"], "COMPLETE")
    left, right = times["Left"], times["Right"]
    assert left["start"] < right["end"] and right["start"] < left["end"]  # side by side
    assert len({left["pid"], right["pid"], os.getpid()}) == 3  # each in its own process
    assert times["Source"]["end"] <= min(left["start"], right["start"])
    assert times["Join"]["start"] >= max(left["end"], right["end"])


def test_a_failure_starts_nothing_new_and_lets_running_nodes_finish(tmp_path, capfd):
    times, nodes, error = _run(tmp_path, fail_left=True)
    assert isinstance(error, NodeFailed)
    assert str(error) == "ValueError: Left found bad data"
    assert nodes["Left"].state == "FAILED"
    assert nodes["Right"].state == "COMPLETE" and "Right" in times  # finished, not killed
    assert "Join" not in nodes and "Join" not in times
    failed = [l for l in capfd.readouterr().err.splitlines() if "✘" in l]
    assert len(failed) == 1 and failed[0].startswith("  ✘ Left failed after ")
    assert failed[0].endswith("s: ValueError: Left found bad data")


def test_a_gate_failure_is_the_cause_even_when_another_node_failed_first(tmp_path, capfd):
    """Bad data can fail Transform before ExampleValidator names the problem: the gate's line
    is the one error line, the earlier failure is said on stdout."""
    times, nodes, error = _run(tmp_path, fail_left=True, fail_right=True, gates=("Right",))
    assert str(error) == "ValueError: Right found bad data"
    assert nodes["Left"].state == nodes["Right"].state == "FAILED"
    out, err = capfd.readouterr()
    failed = [l for l in err.splitlines() if "✘" in l]
    assert len(failed) == 1 and failed[0].startswith("  ✘ Right failed after ")
    assert "✘ Left also failed after" in out and "Left found bad data" in out
    assert "Join" not in nodes


def test_partial_runs_are_refused(tmp_path):
    from tfx.proto.orchestration import pipeline_pb2

    with pytest.raises(ValueError, match="partial runs"):
        ForkingDagRunner().run_with_ir(pipeline_pb2.Pipeline(), pipeline_pb2.RunOptions())
