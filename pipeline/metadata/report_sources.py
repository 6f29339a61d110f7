"""A past run's report inputs, read from ML Metadata: what exists, even for a stopped run."""
from __future__ import annotations

import datetime
import os
from typing import Dict, List, Optional, Tuple

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.report import component as report_component
from components.report import model
from components.report import data as report_data
from pipeline import factory
from pipeline.metadata import mlmd
from pipeline.config import Config

# Lineage the runner may record on the run's context (pipeline/metadata/run_record.py).
CONTEXT_KEYS = ("git_sha", "git_dirty", "config_hash", "user", "host")


class RunNotFound(LookupError):
    """No such run in the ML Metadata store; the message names the store."""


def _one(nodes: Dict[str, mlmd.NodeRun], node_id: str, key: str,
         outputs: bool = True) -> Optional[metadata_store_pb2.Artifact]:
    node = nodes.get(node_id)
    if node is None:
        return None
    found = (node.outputs if outputs else node.inputs).get(key, [])
    return found[0] if found else None


def _context_facts(store: metadata_store.MetadataStore, run_id: str) -> Dict[str, str]:
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if context is None:
        return {}
    return {k: v.string_value for k, v in context.custom_properties.items()
            if k in CONTEXT_KEYS and v.WhichOneof("value") == "string_value"}


def _run_time(store: metadata_store.MetadataStore, run_id: str) -> str:
    context = store.get_context_by_type_and_name("pipeline_run", run_id)
    stamp = datetime.datetime.fromtimestamp(context.create_time_since_epoch / 1000,
                                            datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def stopped_reason(nodes: Dict[str, mlmd.NodeRun], sources: model.Sources) -> Optional[str]:
    """'<node>: <why>' for a run that failed or never finished, else None."""
    order = factory.COMPONENT_IDS + sorted(set(nodes) - set(factory.COMPONENT_IDS))
    failed = [n for n in order if n in nodes and nodes[n].state == "FAILED"]
    if failed:
        node = failed[0]
        if node == "ExampleValidator" and sources.statistics is not None and sources.schema:
            from components.lib.anomalies import describe

            found: List[str] = []
            for anomalies in report_data.validate(sources.statistics, sources.schema).values():
                found += describe(anomalies)
            if found:
                return (f"{node}: data does not match the schema: "
                        + " | ".join(dict.fromkeys(found)))
        return f"{node}: failed (ML Metadata keeps no error text; see the run's log)"
    missing = [n for n in factory.COMPONENT_IDS if n not in nodes]
    if "Pusher" not in nodes:  # nothing failed, yet the run never reached its end
        return f"{missing[0]}: the run ended before it ({', '.join(missing)} did not run)"
    return None


def previous_statistics(store: metadata_store.MetadataStore, span: Optional[int],
                        ) -> Tuple[Optional[metadata_store_pb2.Artifact], Optional[int]]:
    """The newest StatisticsGen output over the newest span before ``span``, if any."""
    if span is None:
        return None, None
    earlier = [a for a in store.get_artifacts_by_type("Examples")
               if (model.prop(a, "span") is not None and model.prop(a, "span") < span
                   and a.state == metadata_store_pb2.Artifact.LIVE)]
    for examples in sorted(earlier, key=lambda a: (model.prop(a, "span"), a.id), reverse=True):
        readers = [e.execution_id for e in store.get_events_by_artifact_ids([examples.id])
                   if e.type == metadata_store_pb2.Event.INPUT]
        # StatisticsGen's, not Transform's pre/post-transform statistics (same artifact type).
        stats_gens = [x.id for x in store.get_executions_by_id(readers)
                      if store.get_execution_types_by_id([x.type_id])[0].name.endswith(
                          "StatisticsGen")]
        outputs = [e.artifact_id for e in store.get_events_by_execution_ids(stats_gens)
                   if e.type == metadata_store_pb2.Event.OUTPUT]
        stats = [a for a in store.get_artifacts_by_id(outputs)
                 if store.get_artifact_types_by_id([a.type_id])[0].name == "ExampleStatistics"]
        if stats:
            return max(stats, key=lambda a: a.id), model.prop(examples, "span")
    return None, None


def sources_for_run(store: metadata_store.MetadataStore, run_id: str,
                    cfg: Config) -> model.Sources:
    nodes = mlmd.run_nodes(store, run_id)
    if not nodes:
        raise RunNotFound(f"{cfg.metadata_path}: no run {run_id!r}")
    sources = model.Sources(run_id=run_id, run_time=_run_time(store, run_id), label=cfg.data.label)
    sources.examples = _one(nodes, "CsvExampleGen", "examples")
    sources.statistics = _one(nodes, "StatisticsGen", "statistics")
    sources.schema = _one(nodes, "ImportSchemaGen", "schema")
    sources.anomalies = _one(nodes, "ExampleValidator", "anomalies")
    sources.drift = _one(nodes, "DriftCheck", "drift")
    sources.model = _one(nodes, "Trainer", "model")
    sources.baseline_model = _one(nodes, "ServingBaseline", "baseline_model")
    sources.evaluation = _one(nodes, "Evaluator", "evaluation")
    sources.blessing = _one(nodes, "Evaluator", "blessing")
    sources.pushed_model = _one(nodes, "Pusher", "pushed_model")
    sources.stopped = stopped_reason(nodes, sources)
    if sources.drift is None:  # DriftCheck did not run: compare with MLMD's previous span
        sources.drift_thresholds = (cfg.monitoring.categorical_drift, cfg.monitoring.numeric_drift)
        sources.drift_skip = list(cfg.data.exclude_features)
        sources.previous_statistics, sources.previous_span = previous_statistics(
            store, model.prop(sources.examples, "span"))

    recorded = _context_facts(store, run_id)
    html = _one(nodes, report_component.COMPONENT_ID, report_component.HTML_KEY)
    report_execution = nodes.get(report_component.COMPONENT_ID)
    if html is not None:  # written by the Report component when it ran
        for key in ("git_sha", "git_dirty", "user", "host"):
            value = model.prop(html, key)
            if value is not None:
                recorded.setdefault(key, str(value))
    if report_execution is not None:
        digest = model.prop(report_execution.execution, "config_digest")
        if digest:
            recorded.setdefault("config_hash", str(digest))
    sha = recorded.get("git_sha")
    if sha and sha not in ("unknown", "none"):
        sources.code = model.CodeVersion(sha, recorded.get("git_dirty") in ("true", "1", "True"))
    elif sha:
        sources.code = model.CodeVersion(None, None, "not a git checkout")
    sources.config_digest = recorded.get("config_hash")
    sources.user, sources.host = recorded.get("user"), recorded.get("host")
    if "git_sha" not in recorded:
        sources.notes.append("The run recorded no code version, user or host (it stopped "
                             "before the Report component).")
    return sources


def default_output(cfg: Config, run_id: str) -> str:
    return os.path.join(cfg.output_root, "reports", f"{run_id}.html")


def write_report(cfg: Config, run_id: Optional[str] = None,
                 output: Optional[str] = None) -> Tuple[str, str, model.Report]:
    """Writes the HTML report and its Markdown summary for ``run_id`` (default: the latest
    run); returns (html path, markdown path, report)."""
    from components.report import render

    with mlmd.open_store(cfg.metadata_path) as store:
        run_id = run_id or mlmd.latest_run_id(store)
        if run_id is None:
            raise RunNotFound(f"{cfg.metadata_path}: no runs recorded yet")
        sources = sources_for_run(store, run_id, cfg)
    report = model.build(sources, title=f"{cfg.pipeline_name}: model review")
    html_path = os.path.abspath(output or default_output(cfg, run_id))
    md_path = os.path.splitext(html_path)[0] + ".md"
    os.makedirs(os.path.dirname(html_path), exist_ok=True)
    with open(html_path, "w", encoding="utf-8") as f:
        f.write(render.to_html(report))
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(render.to_markdown(report, html_path))
    return html_path, md_path, report
