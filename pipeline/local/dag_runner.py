"""The local orchestrator: TFX's BeamDagRunner, with independent nodes run side by side.

BeamDagRunner runs one node at a time: its nodes are stages of one Beam pipeline, and the
DirectRunner executes stages in turn. Most components use one core (DirectRunner in memory),
so on a 2-core machine half of it idles while, say, StatisticsGen and Transform, which do not
depend on each other, wait for each other. This runner starts every node as soon as its
upstream nodes are done, each in a process forked from this one, up to one node per core.

Forking, not spawning: the children inherit the imported TensorFlow, TFX and Beam (seconds
of start-up each) and the compiled pipeline. This process only schedules: it runs no node,
no Beam pipeline and no TensorFlow op, so what a child inherits is the state after imports,
which is safe to fork. Each node runs exactly as BeamDagRunner runs it (the same
``PipelineNodeAsDoFn._run_node``: TFX's launcher, driver, cache and ML Metadata; SQLite
serializes the writes), so outputs and ML Metadata are the same as under BeamDagRunner.

When a node fails, no new node starts (except what a gate that can still name the cause
needs, see ``_Failures``); nodes already running finish, so ML Metadata is left with no
execution stuck in RUNNING by us. On Linux the children die with this process
(PR_SET_PDEATHSIG), so a killed run leaves nothing running behind it.
"""
from __future__ import annotations

import ctypes
import datetime
import multiprocessing
import os
import re
import signal
import sys
import time
from multiprocessing import connection
from typing import Dict, List, Optional, Sequence, Set, Tuple

from tfx.dsl.compiler import constants
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner, PipelineNodeAsDoFn
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

_PR_SET_PDEATHSIG = 1


def one_line(error: BaseException) -> str:
    """The first line of ``error`` with its type, as the run's summary and stderr show it."""
    if isinstance(error, NodeFailed):
        return str(error)
    text = str(error).strip().splitlines()
    # Beam appends "[while running 'Run[...]']" to the message; the first line is ours.
    first = re.sub(r" \[while running '[^']*'\]$", "", text[0]) if text else ""
    return f"{type(error).__name__}: {first}"


class NodeFailed(RuntimeError):
    """A node's process failed; the message is its error's ``one_line``."""


class ProgressNode(PipelineNodeAsDoFn):
    """Runs one node as BeamDagRunner does, with a line when it starts and when it ends.

    A failure is not printed here: the scheduler decides which failure is the run's cause."""

    def _run_node(self) -> None:
        print(f"  ▶ {self._node_id}", flush=True)
        start = time.monotonic()
        super()._run_node()
        print(f"  ✔ {self._node_id} {time.monotonic() - start:.1f}s", flush=True)


def _child(node: ProgressNode, report: connection.Connection) -> None:
    """A forked process's whole life: run ``node``; send back None, or its one-line error
    and how long it ran."""
    if sys.platform.startswith("linux"):  # die with the scheduler (Linux has the call)
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    start = time.monotonic()
    try:
        node._run_node()
    except BaseException as error:  # noqa: B902 (reported to the parent, which stops the run)
        report.send((one_line(error), time.monotonic() - start))
        report.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    report.send(None)
    report.close()


class _Failures:
    """Which failure is the run's cause, and when to say so.

    With nodes side by side, bad data can fail Transform while the gate that would have named
    the problem (ExampleValidator) is still waiting for StatisticsGen. So while a gate can
    still run, failures wait; a gate's failure is the cause; any other failure is said as
    "also failed" on stdout. stderr gets exactly one line: the cause."""

    def __init__(self, gates: Sequence[str], ancestors: Dict[str, Set[str]]):
        self.gates, self.ancestors = list(gates), ancestors
        self.seen: Dict[str, Tuple[str, float]] = {}  # node id -> (one line, seconds)
        self.cause: Optional[str] = None
        self._held: List[str] = []

    def pending_gates(self, done: Set[str]) -> List[str]:
        """Gates that have not run yet and still can: nothing they depend on failed."""
        return [g for g in self.gates if g in self.ancestors and g not in done
                and g not in self.seen and not (self.ancestors[g] & set(self.seen))]

    def may_start(self, node_id: str, done: Set[str]) -> bool:
        """Before any failure, every node; after one, only what a pending gate needs, until
        the cause is known."""
        return not self.seen or self.cause is None and any(
            node_id == g or node_id in self.ancestors[g] for g in self.pending_gates(done))

    def add(self, node_id: str, line: str, seconds: float, done: Set[str]) -> None:
        self.seen[node_id] = (line, seconds)
        if node_id in self.gates or not self.pending_gates(done):
            self._say(node_id)
        else:
            self._held.append(node_id)

    def finish(self) -> Optional[str]:
        """Says what was held back; returns the cause's line, or None if nothing failed."""
        for node_id in self._held:
            self._say(node_id)
        return self.seen[self.cause][0] if self.cause else None

    def _say(self, node_id: str) -> None:
        line, seconds = self.seen[node_id]
        if self.cause is None:
            self.cause = node_id
            print(f"  ✘ {node_id} failed after {seconds:.1f}s: {line}", file=sys.stderr, flush=True)
        else:
            print(f"  ✘ {node_id} also failed after {seconds:.1f}s: {line}", flush=True)


def _ancestors(upstream: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    result: Dict[str, Set[str]] = {}
    for node_id in upstream:  # topological order: a node's upstream nodes come first
        result[node_id] = set().union(*[{u} | result[u] for u in upstream[node_id]])
    return result


class ForkingDagRunner(BeamDagRunner):
    """BeamDagRunner's nodes and semantics; independent nodes run at once, one per core.

    ``gates`` are the nodes whose failure names the cause of a stopped run (see _Failures)."""

    run_id = ""  # set per run; BeamDagRunner.__new__ reads constructor arguments as legacy ones
    gates: Sequence[str] = ()
    max_parallel = max(os.cpu_count() or 1, 1)

    def _nodes(self, pipeline: pipeline_pb2.Pipeline) -> Dict[str, ProgressNode]:
        deployment_config = self._extract_deployment_config(pipeline)
        connection_config = self._connection_config_from_deployment_config(deployment_config)
        nodes = {}
        for node in pipeline.nodes:
            pipeline_node = node.pipeline_node
            node_id = pipeline_node.node_info.id
            nodes[node_id] = ProgressNode(
                pipeline_node=pipeline_node, mlmd_connection_config=connection_config,
                pipeline_info=pipeline.pipeline_info, pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=self._extract_executor_spec(deployment_config, node_id),
                custom_driver_spec=self._extract_custom_driver_spec(deployment_config, node_id),
                deployment_config=deployment_config, pipeline=pipeline)
        return nodes

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline,
                    run_options: Optional[pipeline_pb2.RunOptions] = None) -> None:
        """Runs every node of ``pipeline``; raises NodeFailed with the cause's one line."""
        if run_options is not None:
            raise ValueError("partial runs are not supported by the local runner")
        run_id = self.run_id or datetime.datetime.now().strftime("%Y%m%d-%H%M%S.%f")
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id})
        nodes = self._nodes(pipeline)
        waiting = list(nodes)  # pipeline.nodes are in topological order
        upstream = {n.pipeline_node.node_info.id: set(n.pipeline_node.upstream_nodes)
                    for n in pipeline.nodes}
        failures = _Failures(self.gates, _ancestors(upstream))
        fork = multiprocessing.get_context("fork")
        running: Dict[object, tuple] = {}  # process sentinel -> (node id, process, pipe)
        done: Set[str] = set()
        try:
            while True:
                for node_id in list(waiting):
                    if len(running) >= self.max_parallel:
                        break
                    if upstream[node_id] <= done and failures.may_start(node_id, done):
                        waiting.remove(node_id)
                        receive, send = fork.Pipe(duplex=False)
                        # Not daemonic: a daemonic process may not start multiprocessing
                        # children of its own, and a component's code may want to.
                        process = fork.Process(target=_child, args=(nodes[node_id], send),
                                               name=node_id)
                        process.start()
                        send.close()
                        running[process.sentinel] = (node_id, process, receive)
                if not running:
                    break
                for sentinel in connection.wait(list(running)):
                    node_id, process, receive = running.pop(sentinel)
                    report = receive.recv() if receive.poll() else None  # None: died silently
                    process.join()
                    receive.close()
                    if report is None and process.exitcode == 0:
                        done.add(node_id)
                    else:
                        failures.add(node_id, *(report or (
                            f"{node_id} ended with exit code {process.exitcode}", 0.0)), done)
        finally:
            for _, process, _ in running.values():  # only on an exception here (e.g. Ctrl-C)
                process.terminate()
        cause = failures.finish()
        if cause is not None:
            raise NodeFailed(cause)
