"""Monitoring a batch of data against the serving model's training data.

The reference statistics are found through ML Metadata: the serving version (after a
rollback, the version it restored) -> the Pusher execution that pushed it -> that run's
StatisticsGen output, ``train`` split. The batch (e.g. logged serving requests, with or
without the label) is read like CsvExampleGen reads CSV. Skew uses the skew thresholds,
drift the drift thresholds (``monitoring.*``); both use the same comparators as DriftCheck.
"""
from __future__ import annotations

import datetime
import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import standard_artifacts
from tfx.utils import io_utils

from components.lib import drift
from components.lib.serving_store import serving_version
from pipeline.metadata import catalog, mlmd
from pipeline.config import Config


class MonitorError(ValueError):
    """Monitoring cannot run; the message names the file, folder or version."""


@dataclass
class Reference:
    serving_version: int
    model_version: int          # the version first pushed (differs after a rollback)
    run_id: str
    statistics_uri: str


@dataclass
class MonitorResult:
    data: str
    rows: int
    reference: Reference
    environment: str
    distances: List[drift.Distance] = field(default_factory=list)
    schema_anomalies: List[str] = field(default_factory=list)
    performance: Optional[Any] = None     # live.Performance of labelled traffic
    problems: List[str] = field(default_factory=list)   # log lines that could not be read
    served_by: Dict[str, int] = field(default_factory=dict)   # traffic rows per model version

    @property
    def flagged(self) -> List[drift.Distance]:
        return [d for d in self.distances if d.exceeded]

    @property
    def ok(self) -> bool:
        return not self.flagged and not self.schema_anomalies and (
            self.performance is None or self.performance.ok)

    def to_dict(self) -> Dict[str, Any]:
        flagged = sorted({f"{d.kind}:{d.feature}" for d in self.flagged})
        if self.performance is not None and not self.performance.ok:
            flagged.append("performance")
        return {"data": self.data, "rows": self.rows, "environment": self.environment,
                "reference": self.reference.__dict__, "ok": self.ok, "flagged": flagged,
                "distances": [d.to_dict() for d in self.distances],
                "schema_anomalies": self.schema_anomalies,
                "performance": self.performance.to_dict() if self.performance else None,
                "problems": self.problems, "served_by": self.served_by}


def batch_files(path: str) -> List[str]:
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "**", "*.csv"), recursive=True))
        if files:
            return files
        raise MonitorError(f"{path}: folder has no *.csv file")
    raise MonitorError(f"{path}: no such file or folder")


def reference(store, serving_dir: str) -> Reference:
    """The serving model's training statistics, found through ML Metadata."""
    current = serving_version(serving_dir)
    if current is None:
        raise MonitorError(f"{serving_dir}: no model serving (run the pipeline first)")
    graph = catalog.Graph(store)
    version = current
    # Follow rollbacks back to the version a Pusher wrote.
    restored = {r["new_version"]: r["to_version"] for r in catalog.rollbacks(graph)}
    while version in restored:
        version = restored[version]
    pushed = [a for a in store.get_artifacts_by_type("PushedModel")
              if mlmd.prop(a, "pushed") and str(mlmd.prop(a, "pushed_version")) == str(version)
              and mlmd.prop(a, "restored_version") is None]
    producer = graph.producer(pushed[-1].id) if pushed else None
    if producer is None:
        raise MonitorError(f"{serving_dir}: version {current} has no Pusher run in ML Metadata")
    run_id = graph.run_id(producer)
    stats_gen = graph.run_execution(run_id, "StatisticsGen") if run_id else None
    outputs = graph.outputs(stats_gen.id) if stats_gen else {}
    if not outputs.get("statistics"):
        raise MonitorError(f"run {run_id} (version {version}) has no StatisticsGen output")
    return Reference(current, version, run_id, outputs["statistics"][0].uri)


def _load_train_statistics(uri: str):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = uri
    artifact.split_names = '["train", "eval"]'
    return stats_artifact_utils.load_statistics(artifact, "train").proto()


def monitor(cfg: Config, data: str) -> MonitorResult:
    """Drift and skew of a CSV batch (a file, or a folder of *.csv)."""
    files = batch_files(data)
    with mlmd.open_store(cfg.metadata_path) as store:
        ref = reference(store, cfg.serving_dir)
    try:
        batch = drift.csv_statistics(files)
    except ValueError as e:
        raise MonitorError(str(e).splitlines()[0]) from None
    return _compare(cfg, ref, batch, os.path.abspath(data))


def monitor_traffic(cfg: Config, serving_root: str, tfma_output: str) -> MonitorResult:
    """Skew and drift of the served rows in the prediction log under ``serving_root``, and
    live performance of the labelled ones (TFMA writes to ``tfma_output``)."""
    from pipeline.serving import live, traffic

    with mlmd.open_store(cfg.metadata_path) as store:
        ref = reference(store, cfg.serving_dir)
    read = traffic.read_traffic(serving_root)
    folder = os.path.join(os.path.abspath(serving_root), traffic.LOG_DIR)
    if read.rows.empty:
        raise MonitorError(f"{folder}: no served request with its response in the prediction "
                           "log" + (f" ({read.problems[0]})" if read.problems else ""))
    batch = drift.batch_statistics([traffic.feature_batch(read.rows, read.features)])
    result = _compare(cfg, ref, batch, folder)
    try:
        result.performance = live.measure(cfg, read.labelled,
                                          os.path.join(cfg.serving_dir, str(ref.serving_version)),
                                          tfma_output)
    except live.LiveError as e:
        raise MonitorError(str(e)) from None
    result.problems = read.problems
    result.served_by = {str(k): int(v) for k, v in
                        read.rows[traffic.VERSION].value_counts().sort_index().items()}
    return result


def _compare(cfg: Config, ref: Reference, batch, data: str) -> MonitorResult:
    """Skew and drift of ``batch`` (statistics) against the serving model's training data."""
    training = _load_train_statistics(ref.statistics_uri)
    names = {f.name or ".".join(f.path.step) for d in batch.datasets for f in d.features}
    environment = "TRAINING" if cfg.data.label in names else "SERVING"
    schema = drift.with_comparators(
        io_utils.SchemaReader().read(cfg.schema),
        drift.Thresholds(cfg.monitoring.categorical_drift, cfg.monitoring.numeric_drift,
                         cfg.monitoring.categorical_skew, cfg.monitoring.numeric_skew),
        skip=cfg.data.exclude_features, no_skew=[cfg.data.label])
    found = drift.measure_skew(training, batch, schema) + drift.measure_drift(
        batch, training, schema, environment=environment)
    rows = int(batch.datasets[0].num_examples) if batch.datasets else 0
    return MonitorResult(data=data, rows=rows, reference=ref,
                         environment=environment, distances=found,
                         schema_anomalies=drift.schema_anomalies(batch, schema, environment))


def summary_lines(result: MonitorResult) -> List[str]:
    ref = result.reference
    origin = "" if ref.model_version == ref.serving_version else \
        f", a rollback to version {ref.model_version}"
    lines = [f"Compared {result.rows} rows of {result.data}",
             f"with the training data of serving version {ref.serving_version}{origin} "
             f"(run {ref.run_id}); environment {result.environment}"]
    if result.served_by:
        lines.append("served by model version " + ", ".join(
            f"{v} ({n} rows)" for v, n in result.served_by.items()))
    lines += ["",
              f"  {'feature':<20}{'check':<7}{'measure':<16}{'distance':>9}{'threshold':>11}"]
    for d in result.distances:
        mark = "  ABOVE" if d.exceeded else ""
        lines.append(f"  {d.feature:<20}{d.kind:<7}{d.measure:<16}{d.value:>9.4f}"
                     f"{d.threshold:>11.4f}{mark}")
    lines.append("")
    for anomaly in result.schema_anomalies:
        lines.append(f"  schema anomaly: {anomaly}")
    lines += performance_lines(result.performance) + [f"  skipped: {p}" for p in result.problems]
    if result.served_by and result.performance is None:
        lines.append("Live performance: not measured (no served row has a label yet)")
    if result.ok:
        lines.append("OK: no drift or skew above thresholds, no schema anomaly" + (
            ", live performance within the blessing thresholds" if result.performance else ""))
    for kind in (drift.SKEW, drift.DRIFT):
        above = [d for d in result.flagged if d.kind == kind]
        if above:
            lines.append(f"{kind.upper()}: " + ", ".join(
                f"{d.feature} {d.value:.4f} > {d.threshold:g}" for d in above))
    if result.schema_anomalies:
        lines.append(f"SCHEMA: {len(result.schema_anomalies)} anomaly(ies) against the schema")
    if result.performance is not None and not result.performance.ok:
        failures = result.performance.failures
        more = f"; and {len(failures) - 2} more slice(s)" if len(failures) > 2 else ""
        lines.append("PERFORMANCE: below the blessing threshold: " + "; ".join(failures[:2])
                     + more)
    return lines


def performance_lines(performance) -> List[str]:
    """The live performance table: each slice's example count and metrics."""
    if performance is None:
        return []
    lines = [f"Live performance on {performance.rows} labelled rows (the Evaluator's metrics "
             "and value thresholds):", ""]
    for s in performance.slices:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in s["metrics"].items()
                            if k != "example_count")
        lines.append(f"  {s['slice']:<28}{s['count'] or 0:>6} rows  {metrics}")
    return lines + [f"  left out: {line}" for line in performance.left_out] + [""]


def write_report(result: MonitorResult, path: str) -> List[str]:
    """Writes ``path`` (.json) and the same name with .md; returns both paths."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result.to_dict(), f, indent=2)
    markdown = os.path.splitext(path)[0] + ".md"
    with open(markdown, "w", encoding="utf-8") as f:
        f.write("# Monitoring report\n\n```\n" + "\n".join(summary_lines(result)) + "\n```\n")
    return [path, markdown]


def default_report_path(cfg: Config) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    return os.path.join(cfg.output_root, "monitoring", f"monitor-{stamp}.json")


def run_drift_lines(nodes: Dict[str, Any]) -> List[str]:
    """The run summary's drift line(s), from DriftCheck's drift.json (none if it did not run)."""
    from components.drift_check import load_report

    node = nodes.get("DriftCheck")
    outputs = node.outputs.get("drift", []) if node else []
    if not outputs:
        return []
    try:
        report = load_report(outputs[0].uri)
    except (OSError, ValueError):
        return []
    if not report["previous_spans"]:
        return ["  Drift: not measured (no previous span)"]
    against = ",".join(map(str, report["previous_spans"]))
    above = [d for d in report["distances"] if d["exceeded"]]
    if not above:
        worst = max(report["distances"], key=lambda d: d["value"] / d["threshold"], default=None)
        detail = f"; largest {worst['feature']} {worst['value']:.3f} (threshold " \
                 f"{worst['threshold']})" if worst else ""
        return [f"  Drift vs span {against}: none above thresholds{detail}"]
    listed = ", ".join(f"{d['feature']} {d['measure']} {d['value']:.3f} > {d['threshold']}"
                       for d in above)
    return [f"  Drift vs span {against}: {listed} (policy: {report['policy']})"]
