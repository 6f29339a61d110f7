"""The model catalog: every trained model in ML Metadata, and the lineage of one.

One row per model a Trainer execution produced (a cached Trainer trains nothing and adds
no row): its run and time, the data spans and their content fingerprints, the code
version and config hash the runner recorded, the gated metric (accuracy for a classifier, the
configured error for a regressor), blessing, the versions it was
pushed as (rollback copies included), whether it serves now, and who ran it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.lib import tfma_results
from components.lib.serving_store import serving_version
from pipeline.metadata import mlmd, run_record

Artifact = metadata_store_pb2.Artifact
Execution = metadata_store_pb2.Execution
ROLLBACK_TYPE = "Rollback"


class CatalogError(LookupError):
    """No such model in ML Metadata; the message names what was asked for."""


class Graph:
    """Small read-only helpers over an MLMD store: producers, inputs, node and run ids."""

    def __init__(self, store: metadata_store.MetadataStore):
        self.store = store
        self._types = {t.id: t.name for t in store.get_artifact_types()}
        self._exec_types = {t.id: t.name for t in store.get_execution_types()}

    def artifact_type(self, artifact: Artifact) -> str:
        return self._types.get(artifact.type_id, "?")

    def execution_type(self, execution: Execution) -> str:
        return self._exec_types.get(execution.type_id, "?")

    def events(self, execution_id: int) -> List[metadata_store_pb2.Event]:
        return self.store.get_events_by_execution_ids([execution_id])

    def io(self, execution_id: int, kind: int) -> Dict[str, List[Artifact]]:
        """{key: artifacts} of an execution's inputs (Event.INPUT) or outputs (Event.OUTPUT)."""
        events = [e for e in self.events(execution_id) if e.type == kind]
        by_id = {a.id: a for a in self.store.get_artifacts_by_id([e.artifact_id for e in events])}
        out: Dict[str, List[Artifact]] = {}
        for e in events:
            key = next((s.key for s in e.path.steps if s.HasField("key")), "")
            if e.artifact_id in by_id:
                out.setdefault(key, []).append(by_id[e.artifact_id])
        return out

    def inputs(self, execution_id: int) -> Dict[str, List[Artifact]]:
        return self.io(execution_id, metadata_store_pb2.Event.INPUT)

    def outputs(self, execution_id: int) -> Dict[str, List[Artifact]]:
        return self.io(execution_id, metadata_store_pb2.Event.OUTPUT)

    def producer(self, artifact_id: int) -> Optional[Execution]:
        """The execution that first wrote the artifact (cached runs re-publish it)."""
        events = [e for e in self.store.get_events_by_artifact_ids([artifact_id])
                  if e.type == metadata_store_pb2.Event.OUTPUT]
        if not events:
            return None
        executions = self.store.get_executions_by_id([e.execution_id for e in events])
        executions = [x for x in executions if mlmd.STATE_NAMES.get(x.last_known_state) != "CACHED"] \
            or executions
        return min(executions, key=lambda x: x.id)

    def consumers(self, artifact_id: int) -> List[Execution]:
        events = [e for e in self.store.get_events_by_artifact_ids([artifact_id])
                  if e.type == metadata_store_pb2.Event.INPUT]
        return self.store.get_executions_by_id([e.execution_id for e in events])

    def contexts(self, execution_id: int, type_name: str) -> List[metadata_store_pb2.Context]:
        type_id = self.store.get_context_type(type_name).id
        return [c for c in self.store.get_contexts_by_execution(execution_id) if c.type_id == type_id]

    def node_id(self, execution: Execution) -> str:
        nodes = self.contexts(execution.id, "node")
        return nodes[0].name.split(".", 1)[-1] if nodes else self.execution_type(execution)

    def run_id(self, execution: Execution) -> Optional[str]:
        runs = self.contexts(execution.id, "pipeline_run")
        return runs[0].name if runs else None

    def run_execution(self, run_id: str, node_id: str) -> Optional[Execution]:
        context = self.store.get_context_by_type_and_name("pipeline_run", run_id)
        if context is None:
            return None
        for execution in self.store.get_executions_by_context(context.id):
            if self.node_id(execution) == node_id:
                return execution
        return None


@dataclass
class ModelRow:
    run_id: str
    trained_at: str
    model_id: int
    model_uri: str
    spans: List[int] = field(default_factory=list)
    span_fingerprints: Dict[str, str] = field(default_factory=dict)
    git_sha: str = "unknown"
    git_dirty: str = "unknown"
    config_hash: str = "unknown"
    user: str = "unknown"
    host: str = "unknown"
    metric: str = "accuracy"               # the metric the Evaluator gates on
    value: Optional[float] = None
    baseline_value: Optional[float] = None
    blessed: Optional[bool] = None
    pushed_versions: List[int] = field(default_factory=list)
    serving: bool = False

    def to_dict(self) -> Dict[str, object]:
        """The fields, the metric's values under its name: ``accuracy`` and
        ``baseline_accuracy`` for a classifier, e.g. ``mean_absolute_error`` for a regressor."""
        fields = asdict(self)
        fields[self.metric] = fields.pop("value")
        fields[f"baseline_{self.metric}"] = fields.pop("baseline_value")
        return fields


def _time(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def raw_examples(graph: Graph, artifact: Artifact) -> Optional[Artifact]:
    """The ExampleGen output upstream of ``artifact`` (the data a model was trained on)."""
    seen, frontier = set(), [artifact]
    while frontier:
        current = frontier.pop(0)
        if current.id in seen:
            continue
        seen.add(current.id)
        producer = graph.producer(current.id)
        if producer is None:
            continue
        if graph.node_id(producer) == "CsvExampleGen":
            return current
        for artifacts in graph.inputs(producer.id).values():
            frontier.extend(artifacts)
    return None


def examples_spans(examples: Artifact) -> Tuple[List[int], Dict[str, str]]:
    spans = mlmd.prop(examples, "spans")
    listed = [int(s) for s in spans.split(",")] if spans else [int(mlmd.prop(examples, "span") or 0)]
    fingerprints = mlmd.prop(examples, "span_fingerprints")
    return listed, (json.loads(fingerprints) if fingerprints else {})


def gated_metric(evaluation_uri: str) -> str:
    """The name of the first metric with a threshold in the Evaluator's config."""
    from components.lib import metrics

    try:
        eval_config = tfma_results.load_eval_config(evaluation_uri)
    except Exception:  # an evaluation that failed midway has no config file
        return metrics.ACCURACY
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            if metric.HasField("threshold"):
                return json.loads(metric.config or "{}").get("name") or _metric_name(metric)
    return metrics.ACCURACY


def _metric_name(metric) -> str:
    """A MetricConfig's default name: MeanAbsoluteError -> mean_absolute_error."""
    import importlib

    import tensorflow_model_analysis as tfma

    module = importlib.import_module(metric.module) if metric.module else tfma.metrics
    return getattr(module, metric.class_name)().name


def overall_metric(evaluation_uri: str) -> Tuple[str, Optional[float], Optional[float]]:
    """(name, candidate, baseline) of the gated metric, overall, from an Evaluator output;
    values None when absent."""
    name = gated_metric(evaluation_uri)
    return (name, *tfma_results.overall_values(evaluation_uri, name))


def version_origins(graph: Graph) -> Dict[int, int]:
    """{pushed version: the model artifact id it serves}, rollback copies included."""
    origins: Dict[int, int] = {}
    for pushed in graph.store.get_artifacts_by_type("PushedModel"):
        if not mlmd.prop(pushed, "pushed"):
            continue
        version = mlmd.prop(pushed, "pushed_version")
        producer = graph.producer(pushed.id)
        if producer is None or version is None:
            continue
        if graph.execution_type(producer) == ROLLBACK_TYPE:
            continue
        models = graph.inputs(producer.id).get("model", [])
        if models:
            origins[int(version)] = models[0].id
    for rollback in rollbacks(graph):
        source = origins.get(rollback["to_version"])
        if source is not None:
            origins[rollback["new_version"]] = source
    return origins


def _has_type(graph: Graph, name: str) -> bool:
    return name in graph._exec_types.values()


def rollbacks(graph: Graph) -> List[Dict[str, object]]:
    """Every recorded rollback, oldest first."""
    if not _has_type(graph, ROLLBACK_TYPE):
        return []
    found = []
    for execution in sorted(graph.store.get_executions_by_type(ROLLBACK_TYPE), key=lambda e: e.id):
        values = {k: getattr(v, v.WhichOneof("value")) for k, v in execution.properties.items()}
        values.update({k: getattr(v, v.WhichOneof("value"))
                       for k, v in execution.custom_properties.items()})
        values["time"] = _time(execution.create_time_since_epoch)
        found.append(values)
    return found


def trainer_executions(graph: Graph) -> Iterator[Execution]:
    for context in graph.store.get_contexts_by_type("node"):
        if context.name.split(".", 1)[-1] != "Trainer":
            continue
        for execution in graph.store.get_executions_by_context(context.id):
            if mlmd.STATE_NAMES.get(execution.last_known_state) == "COMPLETE":
                yield execution


def list_models(store: metadata_store.MetadataStore, serving_dir: str) -> List[ModelRow]:
    """Every trained model, oldest first."""
    graph = Graph(store)
    origins = version_origins(graph)
    serving = serving_version(serving_dir)
    rows = []
    for execution in sorted(trainer_executions(graph), key=lambda e: e.id):
        models = graph.outputs(execution.id).get("model", [])
        if not models:
            continue
        model = models[0]
        run_id = graph.run_id(execution) or "?"
        row = ModelRow(run_id=run_id, trained_at=_time(execution.create_time_since_epoch),
                       model_id=model.id, model_uri=model.uri)
        examples = raw_examples(graph, model)
        if examples is not None:
            row.spans, row.span_fingerprints = examples_spans(examples)
        recorded = run_record.read(store, run_id)
        for key in run_record.KEYS:
            if key in recorded:
                setattr(row, key, recorded[key])
        evaluator = graph.run_execution(run_id, "Evaluator")
        if evaluator is not None:
            outputs = graph.outputs(evaluator.id)
            if outputs.get("blessing"):
                row.blessed = bool(mlmd.prop(outputs["blessing"][0], "blessed"))
            if outputs.get("evaluation"):
                row.metric, row.value, row.baseline_value = overall_metric(
                    outputs["evaluation"][0].uri)
        row.pushed_versions = sorted(v for v, m in origins.items() if m == model.id)
        row.serving = serving is not None and origins.get(serving) == model.id
        rows.append(row)
    return rows


def find_model(rows: List[ModelRow], ident: str) -> ModelRow:
    """The row whose run id (or a unique prefix of it) or model id is ``ident``."""
    exact = [r for r in rows if r.run_id == ident or str(r.model_id) == ident]
    matches = exact or [r for r in rows if r.run_id.startswith(ident)]
    if len(matches) != 1:
        known = ", ".join(r.run_id for r in rows) or "none"
        what = "no" if not matches else "more than one"
        raise CatalogError(f"{what} model matches {ident!r} (run ids: {known})")
    return matches[0]


def table_lines(rows: List[ModelRow], serving_dir: str) -> List[str]:
    """The catalog as an aligned text table, then which version serves."""
    names = {r.metric for r in rows}
    shared = names.pop() if len(names) == 1 else None  # else each cell names its metric
    header = ["run", "trained", "spans", "data fingerprint", "code", "config",
              shared or "metric", "blessed", "pushed", "by"]
    body = []
    for r in rows:
        value = "-" if r.value is None else f"{r.value:.3f}"
        body.append([
            r.run_id, r.trained_at, ",".join(map(str, r.spans)),
            " ".join(f"{s}:{fp[:8]}" for s, fp in sorted(r.span_fingerprints.items())) or "-",
            r.git_sha[:8] + ("+dirty" if r.git_dirty == "true" else ""), r.config_hash,
            value if shared else f"{r.metric} {value}",
            {True: "yes", False: "no", None: "-"}[r.blessed],
            ",".join(f"v{v}" for v in r.pushed_versions) + (" (serving)" if r.serving else "")
            if r.pushed_versions else "none",
            f"{r.user}@{r.host}"])
    widths = [max(len(x) for x in col) for col in zip(header, *body)] if body else [len(h) for h in header]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header] + body]
    current = serving_version(serving_dir)
    lines += ["", f"Serving now: version {current}" if current is not None else
              "Serving now: nothing (no version pushed)"]
    return lines


def lineage_lines(store: metadata_store.MetadataStore, row: ModelRow) -> List[str]:
    """The model's full lineage: each input artifact, its producer, back to the raw files."""
    graph = Graph(store)
    lines = [f"Model {row.model_id} from run {row.run_id} ({row.trained_at})", f"  uri: {row.model_uri}"]
    seen: set = set()
    shown_executions: set = set()

    def walk(artifact: Artifact, depth: int, key: str) -> None:
        pad = "  " * depth
        label = f"{pad}{key}: {graph.artifact_type(artifact)} #{artifact.id}"
        extras = []
        for name in ("span", "spans", "span_fingerprints", "blessed", "pushed_version"):
            value = mlmd.prop(artifact, name)
            if value not in (None, ""):
                extras.append(f"{name}={value}")
        lines.append(label + (f" [{', '.join(extras)}]" if extras else ""))
        lines.append(f"{pad}  uri: {artifact.uri}")
        if artifact.id in seen:
            lines.append(f"{pad}  (shown above)")
            return
        seen.add(artifact.id)
        producer = graph.producer(artifact.id)
        if producer is None:
            return
        node = graph.node_id(producer)
        lines.append(f"{pad}  produced by {node} (execution {producer.id}, run "
                     f"{graph.run_id(producer)})")
        if producer.id in shown_executions:
            lines.append(f"{pad}    (its inputs are shown above)")
            return
        shown_executions.add(producer.id)
        if node == "CsvExampleGen":
            lines.extend(raw_file_lines(producer, artifact, pad + "    "))
        elif node == "ImportSchemaGen":
            path = _exec_prop(producer, "schema_file")
            lines.append(f"{pad}    file: {path}")
        for input_key, artifacts in sorted(graph.inputs(producer.id).items()):
            for upstream in artifacts:
                walk(upstream, depth + 2, input_key)

    model = store.get_artifacts_by_id([row.model_id])[0]
    walk(model, 1, "model")
    return lines


def _exec_prop(execution: Execution, key: str):
    for properties in (execution.properties, execution.custom_properties):
        if key in properties:
            kind = properties[key].WhichOneof("value")
            return getattr(properties[key], kind) if kind else None
    return None


def raw_file_lines(execution: Execution, examples: Artifact, pad: str) -> List[str]:
    """The CSV files behind an Examples artifact, with each span's content fingerprint."""
    from components.lib.spans import span_files

    base = _exec_prop(execution, "input_base") or "?"
    pattern = None
    custom = _exec_prop(execution, "custom_config")
    if custom:
        try:
            from components.lib.spans import read_custom_config

            pattern = read_custom_config({"custom_config": custom}).get("span_pattern")
        except Exception:  # an older run without our custom config
            pattern = None
    spans, fingerprints = examples_spans(examples)
    lines = [f"{pad}data root: {base}"]
    for span in spans:
        files = span_files(base, pattern, span) if pattern and os.path.isdir(base) else []
        names = ", ".join(os.path.relpath(f, base) for f in files) or "(files not found now)"
        lines.append(f"{pad}span {span}: {names}  content sha256 {fingerprints.get(str(span), '?')}")
    return lines
