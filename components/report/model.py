"""The reviewer report as plain data, read from a run's artifacts.

Both the Report component's executor and ``python -m pipeline report`` fill a
:class:`Sources` (MLMD artifacts plus lineage facts) and call :func:`build`; the
renderer (``render.py``) only formats what is here, so nothing is computed twice.
"""
from __future__ import annotations

import datetime
import getpass
import os
import socket
import subprocess
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ml_metadata.proto import metadata_store_pb2

from components.lib.properties import prop

Artifact = metadata_store_pb2.Artifact

# A slice with fewer eval examples than this is flagged: one error moves its accuracy by
# more than five points, so its numbers are noise rather than evidence.
MIN_SLICE_EXAMPLES = 20
OVERALL = "Overall"
HISTOGRAM_BUCKETS = 10
TOP_VALUES = 6


# ----------------------------------------------------------------------------- lineage facts

@dataclass(frozen=True)
class CodeVersion:
    sha: Optional[str]          # None: not a git checkout (e.g. in a container image)
    dirty: Optional[bool]
    note: str = ""

    def describe(self) -> str:
        if self.sha is None:
            return self.note or "not a git checkout"
        return f"{self.sha[:12]}{' (dirty: uncommitted changes)' if self.dirty else ''}"


def code_version(folder: Optional[str] = None) -> CodeVersion:
    """The git commit of the installed pipeline source, and whether it has local edits."""
    import components

    folder = folder or os.path.dirname(os.path.dirname(os.path.abspath(components.__file__)))
    try:
        sha = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=20)
        if sha.returncode != 0:
            return CodeVersion(None, None, "not a git checkout")
        status = subprocess.run(["git", "-C", folder, "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return CodeVersion(None, None, "git is not installed")
    return CodeVersion(sha.stdout.strip(), bool(status.stdout.strip()))


def number(value: float) -> str:
    """A number as the report prints it: whole above 1000, else four significant digits."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers often run as a uid with no passwd entry
        return f"uid {os.getuid()}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass
class Sources:
    """Everything a report is built from. Artifacts are MLMD protos; any may be missing."""

    run_id: str
    run_time: Optional[str]          # None: not known (inside a component)
    label: str
    config_digest: Optional[str] = None
    code: Optional[CodeVersion] = None
    user: Optional[str] = None
    host: Optional[str] = None
    examples: Optional[Artifact] = None
    statistics: Optional[Artifact] = None
    anomalies: Optional[Artifact] = None
    schema: Optional[Artifact] = None
    model: Optional[Artifact] = None
    baseline_model: Optional[Artifact] = None
    evaluation: Optional[Artifact] = None
    blessing: Optional[Artifact] = None
    pushed_model: Optional[Artifact] = None
    drift: Optional[Artifact] = None                 # DriftCheck's output (drift.json)
    previous_statistics: Optional[Artifact] = None   # the previous span's, if known
    previous_span: Optional[int] = None
    # (categorical, numeric) drift thresholds and features to leave out, for that comparison
    drift_thresholds: Optional[Tuple[float, float]] = None
    drift_skip: List[str] = field(default_factory=list)
    stopped: Optional[str] = None                    # "<node>: <error>" when the run failed
    notes: List[str] = field(default_factory=list)   # where lineage facts came from


# ----------------------------------------------------------------------------- the report model

@dataclass(frozen=True)
class Verdict:
    blessed: Optional[bool]          # None: not evaluated
    pushed_version: Optional[int]
    already_serving_version: Optional[int]
    stopped: Optional[str]

    @property
    def passed(self) -> bool:
        return self.stopped is None and bool(self.blessed)

    @property
    def headline(self) -> str:
        if self.stopped:
            return f"Stopped at {self.stopped}"
        if self.blessed is None:
            return "Not evaluated"
        return "Blessed" if self.blessed else "NOT blessed"

    @property
    def push(self) -> str:
        if self.pushed_version is not None:
            return f"pushed as version {self.pushed_version}"
        if self.already_serving_version is not None:
            return f"not pushed: already serving as version {self.already_serving_version}"
        return "not pushed"


@dataclass(frozen=True)
class ThresholdRow:
    metric: str
    slice: str
    kind: str                        # "value" or "change"
    candidate: Optional[float]
    baseline: Optional[float]
    difference: Optional[float]
    threshold: str                   # e.g. ">= 0.8" or "change >= -0.02"
    passed: bool


@dataclass(frozen=True)
class SliceMetrics:
    slice: str
    column: str                      # "" for the overall slice
    example_count: Optional[int]
    candidate: Dict[str, float]
    baseline: Dict[str, float]

    @property
    def few_examples(self) -> bool:
        return self.example_count is not None and self.example_count < MIN_SLICE_EXAMPLES


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    candidate: Dict[str, float]      # precision, recall
    baseline: Dict[str, float]


@dataclass(frozen=True)
class ConfusionMatrix:
    classes: List[str]
    counts: List[List[float]]        # counts[actual][predicted]


@dataclass(frozen=True)
class Regression:
    """The candidate's predictions against the actual values, on a sample of eval examples."""
    pairs: List[Tuple[float, float]]             # (actual, predicted)
    residual_bars: List[Tuple[str, float]]       # histogram of predicted - actual

    @property
    def mean_residual(self) -> float:
        return sum(p - a for a, p in self.pairs) / len(self.pairs) if self.pairs else 0.0


@dataclass
class Evaluation:
    has_baseline: bool
    validation_ok: bool
    metric_names: List[str]
    thresholds: List[ThresholdRow]
    slices: List[SliceMetrics]
    classes: List[ClassMetrics]
    confusion: Optional[ConfusionMatrix]
    regression: Optional[Regression] = None      # a regression model's plots

    @property
    def failed_thresholds(self) -> List[ThresholdRow]:
        return [row for row in self.thresholds if not row.passed]

    def slices_by_column(self) -> List[Tuple[str, List[SliceMetrics]]]:
        columns: Dict[str, List[SliceMetrics]] = {}
        for s in self.slices:
            columns.setdefault(s.column, []).append(s)
        return list(columns.items())


@dataclass(frozen=True)
class FeatureSummary:
    name: str
    kind: str                        # "numeric" or "categorical"
    missing: int
    present: int
    stats: Dict[str, str]            # already formatted: mean, std, min, max or unique
    bars: List[Tuple[str, float]]    # (label, count): histogram buckets or top values

    @property
    def missing_fraction(self) -> float:
        total = self.missing + self.present
        return self.missing / total if total else 0.0


@dataclass(frozen=True)
class SplitData:
    name: str
    examples: int
    features: List[FeatureSummary]


@dataclass(frozen=True)
class AnomalyRow:
    split: str
    feature: str
    description: str


@dataclass(frozen=True)
class DriftRow:
    split: str
    feature: str
    measure: str
    value: float
    threshold: Optional[float]       # None: measured for the report, no threshold configured

    @property
    def flagged(self) -> bool:
        return self.threshold is not None and self.threshold > 0 and self.value > self.threshold


@dataclass
class Data:
    span: Optional[int]
    splits: List[SplitData]
    anomalies: List[AnomalyRow]
    drift: List[DriftRow]
    drift_note: str


@dataclass(frozen=True)
class Lineage:
    rows: List[Tuple[str, str]]      # (what, value) in reading order


@dataclass
class Report:
    title: str
    verdict: Verdict
    evaluation: Optional[Evaluation]
    data: Data
    lineage: Lineage
    generated: str


# ----------------------------------------------------------------------------- evaluation


# ----------------------------------------------------------------------------- the whole report

def verdict(sources: Sources) -> Verdict:
    blessed = prop(sources.blessing, "blessed")
    pushed = sources.pushed_model
    version = int(prop(pushed, "pushed_version")) if prop(pushed, "pushed") else None
    return Verdict(None if blessed is None else bool(blessed), version,
                   prop(pushed, "already_serving_version"), sources.stopped)


def lineage(sources: Sources) -> Lineage:
    unknown = "not recorded"
    examples = sources.examples
    pushed_path = prop(sources.pushed_model, "pushed_destination") if prop(
        sources.pushed_model, "pushed") else None
    baseline = sources.baseline_model
    if baseline is None:
        baseline_text = unknown
    elif prop(baseline, "has_model"):
        baseline_text = f"serving version {prop(baseline, 'serving_version')} ({baseline.uri})"
    else:
        baseline_text = "none: no model was serving"
    rows = [
        ("Run", sources.run_id),
        ("Run started", sources.run_time or "not known to the component (see when the report "
                                            "was written)"),
        # "spans": CsvExampleGen's window of spans; "span": stock ExampleGen's one span.
        ("Data span(s)", str(prop(examples, "spans") or (
            prop(examples, "span") if prop(examples, "span") is not None else unknown))),
        ("Data fingerprint", prop(examples, "input_fingerprint") or unknown),
    ]
    if prop(examples, "span_fingerprints"):  # content hashes per span
        rows.append(("Span content fingerprints", str(prop(examples, "span_fingerprints"))))
    rows += [
        ("Examples", examples.uri if examples is not None else unknown),
        ("Code version", sources.code.describe() if sources.code else unknown),
        ("Config hash", sources.config_digest or unknown),
        ("Model", sources.model.uri if sources.model is not None else "not trained"),
        ("Baseline model", baseline_text),
        ("Pushed to", pushed_path or "not pushed"),
        ("Ran by", f"{sources.user} on {sources.host}" if sources.user else unknown),
    ]
    rows += [("Note", note) for note in sources.notes]
    return Lineage(rows)


def build(sources: Sources, title: str = "Model review") -> Report:
    from components.report.data import load_data
    from components.report.evaluation import class_names, load_evaluation

    classes = class_names(sources.model, sources.label)
    evaluation = load_evaluation(sources.evaluation, classes) if sources.evaluation else None
    return Report(title=title, verdict=verdict(sources), evaluation=evaluation,
                  data=load_data(sources), lineage=lineage(sources), generated=now())


def runtime_facts() -> Tuple[CodeVersion, str, str]:
    """Code version, user and host of the process writing the report."""
    return code_version(), current_user(), socket.gethostname()
