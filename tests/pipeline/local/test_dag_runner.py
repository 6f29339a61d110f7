"""ForkingDagRunner on small pipelines of TFX function components with real SQLite ML Metadata:
independent nodes overlap, dependent ones wait, and a failure stops the run cleanly.

No clocks: each node leaves marker files in a log folder, and what a node saw when it started
is the evidence of order. Overlap is a rendezvous: Left and Right each wait, at start, until
the other has started, which can only happen if both run at once.
"""

import json
import os
import time

import pytest
from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.types import standard_artifacts
from tfx.v1.dsl.components import InputArtifact, OutputArtifact, Parameter, component

from pipeline.metadata import mlmd
from pipeline.local.dag_runner import ForkingDagRunner, NodeFailed

RUN_ID = "test-run"
# A node waiting on another gives up (and fails the test) after this long; it only keeps a
# broken scheduler from hanging the suite, and is never what a test measures.
PATIENCE_SECONDS = 120


def _mark(log_dir: str, name: str, event: str) -> dict:
    """Records ``event`` of node ``name`` with the markers already there; returns the record."""
    record = {"pid": os.getpid(), "saw": sorted(os.listdir(log_dir))}
    with open(os.path.join(log_dir, f"{event}-{name}"), "w") as f:
        json.dump(record, f)
    return record


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _ended(pid: int) -> bool:
    """Whether process ``pid`` has exited (gone, or a zombie not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@component
def Source(log_dir: Parameter[str], out: OutputArtifact[standard_artifacts.Model]) -> None:
    _mark(log_dir, "Source", "start")
    _mark(log_dir, "Source", "done")


@component
def Work(log_dir: Parameter[str], name: Parameter[str], partner: Parameter[str],
         fail: Parameter[int], after_partner_ends: Parameter[int],
         source: InputArtifact[standard_artifacts.Model],
         out: OutputArtifact[standard_artifacts.Model]) -> None:
    _mark(log_dir, name, "start")
    started = os.path.join(log_dir, f"start-{partner}")
    _wait(lambda: os.path.exists(started), f"{partner} to start beside {name}")
    if after_partner_ends:
        pid = json.load(open(started))["pid"]
        _wait(lambda: _ended(pid), f"{partner} to end")
    if fail:
        raise ValueError(f"{name} found bad data")
    _mark(log_dir, name, "done")


@component
def Join(log_dir: Parameter[str], left: InputArtifact[standard_artifacts.Model],
         right: InputArtifact[standard_artifacts.Model]) -> None:
    _mark(log_dir, "Join", "start")


def _run(tmp_path, fail_left: bool, fail_right: bool = False, gates=()):
    """Source, then Left and Right side by side, then Join. A failing Left fails as soon as
    Right has started; Right then finishes only after Left's process has ended."""
    log_dir = str(tmp_path / "log")
    os.makedirs(log_dir)
    source = Source(log_dir=log_dir)
    left = Work(log_dir=log_dir, name="Left", partner="Right", fail=int(fail_left),
                after_partner_ends=0, source=source.outputs["out"]).with_id("Left")
    right = Work(log_dir=log_dir, name="Right", partner="Left", fail=int(fail_right),
                 after_partner_ends=int(fail_left), source=source.outputs["out"]).with_id("Right")
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
    marks = {name: json.load(open(os.path.join(log_dir, name))) for name in os.listdir(log_dir)}
    with mlmd.open_store(db) as store:
        nodes = mlmd.run_nodes(store, RUN_ID)
    return marks, nodes, error


def test_independent_nodes_overlap_and_dependent_nodes_wait(tmp_path):
    marks, nodes, error = _run(tmp_path, fail_left=False)
    assert error is None
    assert {n: nodes[n].state for n in nodes} == dict.fromkeys(
        ["Source", "Left", "Right", "Join"], "COMPLETE")
    # Both finished, and each waited at its start for the other: they ran side by side.
    assert {"done-Left", "done-Right"} <= set(marks)
    pids = {marks["start-Left"]["pid"], marks["start-Right"]["pid"], os.getpid()}
    assert len(pids) == 3  # each in its own process
    for name in ("Left", "Right"):  # the source was done before either started
        assert "done-Source" in marks[f"start-{name}"]["saw"]
    assert {"done-Left", "done-Right"} <= set(marks["start-Join"]["saw"])  # Join waited


def test_a_failure_starts_nothing_new_and_lets_running_nodes_finish(tmp_path, capfd):
    marks, nodes, error = _run(tmp_path, fail_left=True)
    assert isinstance(error, NodeFailed)
    assert str(error) == "ValueError: Left found bad data"
    assert nodes["Left"].state == "FAILED" and "done-Left" not in marks
    # Right was running when Left's process ended, and finished: it was not killed.
    assert nodes["Right"].state == "COMPLETE" and "done-Right" in marks
    assert "Join" not in nodes and "start-Join" not in marks
    failed = [l for l in capfd.readouterr().err.splitlines() if "✘" in l]
    assert len(failed) == 1 and failed[0].startswith("  ✘ Left failed after ")
    assert failed[0].endswith("s: ValueError: Left found bad data")


def test_a_gate_failure_is_the_cause_even_when_another_node_failed_first(tmp_path, capfd):
    """Bad data can fail Transform before ExampleValidator names the problem: the gate's line
    is the one error line, the earlier failure is said on stdout."""
    marks, nodes, error = _run(tmp_path, fail_left=True, fail_right=True, gates=("Right",))
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
