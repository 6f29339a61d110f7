"""The local run: the pipeline under ForkingDagRunner with SQLite ML Metadata, and a summary."""
from __future__ import annotations

import datetime
import os
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

from ml_metadata import errors as mlmd_errors
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata

from components.lib.serving_store import serving_version
from pipeline import factory
from pipeline.metadata import blessing, mlmd, run_record
from pipeline.ops import monitor
from pipeline.local.dag_runner import ForkingDagRunner, one_line
from pipeline.config import Config


@dataclass
class RunResult:
    run_id: str
    span: int
    nodes: Dict[str, mlmd.NodeRun]
    error: Optional[str]
    seconds: float

    @property
    def blessed(self) -> Optional[bool]:
        node = self.nodes.get("Evaluator")
        blessing = node.outputs.get("blessing", []) if node else []
        return bool(mlmd.prop(blessing[0], "blessed")) if blessing else None

    def _pushed_model(self):
        node = self.nodes.get("Pusher")
        pushed = node.outputs.get("pushed_model", []) if node else []
        return pushed[0] if pushed else None

    @property
    def pushed_version(self) -> Optional[int]:
        artifact = self._pushed_model()
        if artifact is None or not mlmd.prop(artifact, "pushed"):
            return None
        return int(mlmd.prop(artifact, "pushed_version"))

    @property
    def already_serving_version(self) -> Optional[int]:
        artifact = self._pushed_model()
        return mlmd.prop(artifact, "already_serving_version") if artifact else None

    @property
    def ok(self) -> bool:
        return self.error is None


def new_run_id() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")


def _state_it_was_evaluated_in(store, version: int) -> Optional[str]:
    """The ServingBaseline state of the run that pushed ``version``, if a run of ours did."""
    pushes = [a for a in store.get_artifacts_by_type("PushedModel")
              if mlmd.prop(a, "pushed") == 1 and str(mlmd.prop(a, "pushed_version")) == str(version)]
    if not pushes:
        return None
    latest = max(pushes, key=lambda a: a.id)
    events = [e for e in store.get_events_by_artifact_ids([latest.id])
              if e.type == metadata_store_pb2.Event.OUTPUT]
    try:
        run_type = store.get_context_type("pipeline_run").id
    except mlmd_errors.NotFoundError:  # no run recorded yet: the push came from a rollback
        return None
    for event in events:
        try:
            contexts = store.get_contexts_by_execution(event.execution_id)
        except mlmd_errors.NotFoundError:  # a Rollback's push: no run evaluated anything in it
            continue
        for context in contexts:
            if context.type_id == run_type:
                node = mlmd.run_nodes(store, context.name).get("ServingBaseline")
                state = mlmd.prop(node.execution, "serving_state") if node else None
                return state if isinstance(state, str) and state else None
    return None


def serving_state(cfg: Config) -> str:
    """The ServingBaseline cache key: what serves now, as far as the evaluation is concerned.

    Normally ``version=N``, so a new push means a new baseline. But when version N was pushed
    by one of our runs, the key is the state that run evaluated its candidate in: if this run's
    Trainer gives that same candidate (the ServingBaseline also keys on it), its evaluation
    stands and the rerun is fully cached, instead of evaluating the model against itself. A
    different candidate misses the cache and is evaluated against version N.
    """
    version = serving_version(cfg.serving_dir)
    if version is not None and os.path.exists(cfg.metadata_path):
        with mlmd.open_store(cfg.metadata_path) as store:
            recorded = _state_it_was_evaluated_in(store, version)
        if recorded is not None:
            return recorded
    return f"version={version}"


def run(cfg: Config, span: int) -> RunResult:
    """Runs the pipeline on ``span`` and reads back what ML Metadata recorded."""
    run_id = new_run_id()
    pipeline = factory.create_pipeline(
        cfg, span, serving_state=serving_state(cfg),
        metadata_connection_config=metadata.sqlite_metadata_connection_config(cfg.metadata_path))
    recorded = run_record.properties(cfg)  # the code as it was when the run started
    start = time.monotonic()
    error = None
    try:
        dag_runner = ForkingDagRunner()
        dag_runner.gates = factory.GATES
        dag_runner.run_id = run_id
        dag_runner.run_with_ir(compiler.Compiler().compile(pipeline))
    except Exception as e:  # the failing component already printed its one-line reason
        error = one_line(e)
    seconds = time.monotonic() - start
    if error and not os.path.exists(cfg.metadata_path):
        print(f"  ✘ the run did not start: {error}", file=sys.stderr)
        return RunResult(run_id, span, {}, error, seconds)
    with mlmd.open_store(cfg.metadata_path) as store:
        run_record.record(store, run_id, recorded)  # for `models`
        nodes = mlmd.run_nodes(store, run_id)
    return RunResult(run_id, span, nodes, error, seconds)


def table_lines(result: RunResult) -> List[str]:
    """The run's headline and each component's status, time and cache hit."""
    lines = [f"Run {result.run_id} on span {result.span}: "
             f"{'succeeded' if result.ok else 'FAILED'} in {result.seconds:.1f}s", "",
             f"  {'component':<18}{'status':<11}{'time':>8}  cache"]
    for node_id in factory.COMPONENT_IDS:
        node = result.nodes.get(node_id)
        if node is None:
            lines.append(f"  {node_id:<18}{'not run':<11}{'-':>8}  -")
            continue
        status = {"CACHED": "ok", "COMPLETE": "ok"}.get(node.state, node.state.lower())
        lines.append(f"  {node_id:<18}{status:<11}{node.seconds:>7.1f}s  "
                     f"{'hit' if node.cached else 'miss'}")
    return lines


def outcome_lines(result: RunResult) -> List[str]:
    """The verdict: blessed or not (and why), pushed or not, drift, and why a run stopped."""
    blessed = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[result.blessed]
    if result.pushed_version is not None:
        pushed = f"pushed as version {result.pushed_version}"
    elif result.already_serving_version is not None:
        pushed = f"not pushed: already serving as version {result.already_serving_version}"
    else:
        pushed = "not pushed"
    lines = [f"  Model: {blessed}, {pushed}"]
    evaluation = result.nodes["Evaluator"].outputs.get("evaluation") if result.blessed is False else None
    if evaluation:  # say which threshold failed, not just that one did
        lines.append(f"  NOT blessed: {'; '.join(blessing.reasons(evaluation[0].uri))}")
    lines += monitor.run_drift_lines(result.nodes)
    if result.error:
        lines.append(f"  Stopped: {result.error}")
    return lines


def summary_lines(result: RunResult) -> List[str]:
    """The summary: the component table, then the verdict."""
    return table_lines(result) + [""] + outcome_lines(result)
