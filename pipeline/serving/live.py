"""Live performance: the Evaluator's own metrics and value thresholds on labelled traffic.

The EvalConfig is the pipeline's (``pipeline/eval_config.py``): the same metrics, slices and
value thresholds that bless a model, with the model spec pointed at the columns of the
traffic instead of a model (TFMA's ``analyze_raw_data``): the label as the class id the model
predicts (a string label's ids follow the served model's own vocabulary asset) and the served
``probabilities`` (a regressor's ``predictions``). Change thresholds need a baseline model,
so they are left out. The results are read back with the report's TFMA reader.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import pandas as pd

from components.user.model import PREDICTIONS
from components.user.preprocessing import label_vocabulary_name
from pipeline import eval_config as eval_config_lib
from components.lib import label as label_lib
from pipeline.config import Config
from pipeline.serving import traffic

PROBABILITIES = "probabilities"


class LiveError(ValueError):
    """Live performance cannot be measured; the message names the file or column."""


@dataclass
class Performance:
    """What TFMA measured on the labelled rows, overall and per slice."""
    rows: int
    failures: List[str]                       # e.g. "accuracy 0.41 < 0.80 (overall)"
    slices: List[Dict[str, Any]]              # {"slice", "count", "metrics": {name: value}}
    left_out: List[str] = field(default_factory=list)   # labelled rows that could not count

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> Dict[str, Any]:
        return {"rows": self.rows, "ok": self.ok, "failures": self.failures,
                "slices": self.slices, "left_out": self.left_out}


def class_order(cfg: Config, label: label_lib.Label, model_dir: str) -> List[str]:
    """Class names in the served model's class-id order (its ``probabilities`` order)."""
    if label.integer:
        return list(label.classes)
    path = os.path.join(model_dir, "assets", label_vocabulary_name(cfg.data.label))
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.strip()]
    except OSError:
        raise LiveError(f"{path}: the served model's label vocabulary is missing") from None


def raw_eval_config(cfg: Config, label: label_lib.Label):
    """The Evaluator's EvalConfig for a frame of labels and served outputs: no model, no
    baseline, so no change thresholds."""
    config = eval_config_lib.build(cfg, label)
    for spec in config.model_specs:
        spec.ClearField("preprocessing_function_names")
        spec.ClearField("signature_name")
        spec.label_key = traffic.LABEL
        spec.prediction_key = PREDICTIONS if label.task == label_lib.REGRESSION else PROBABILITIES
    for metrics_spec in config.metrics_specs:
        for metric in metrics_spec.metrics:
            if metric.HasField("threshold"):
                metric.threshold.ClearField("change_threshold")
    return config


def _frame(cfg: Config, label: label_lib.Label, labelled: pd.DataFrame, classes: List[str]
           ) -> tuple:
    """The frame TFMA reads (slices, label, prediction) and what had to be left out."""
    prediction = PREDICTIONS if label.task == label_lib.REGRESSION else PROBABILITIES
    if prediction not in labelled.columns:
        raise LiveError(f"the served responses have no {prediction!r} output "
                        f"(outputs: {', '.join(c for c in labelled.columns)})")
    frame = pd.DataFrame({s: labelled[s] if s in labelled.columns else None
                          for s in cfg.evaluator.slices})
    left_out: List[str] = []
    if label.task == label_lib.REGRESSION:
        values = pd.to_numeric(labelled[traffic.LABEL], errors="coerce")
        bad = labelled[values.isna()]
        frame[traffic.LABEL] = values.astype("float64")
        frame[prediction] = labelled[prediction].astype("float64")
    else:
        index = {name: i for i, name in enumerate(classes)}
        ids = labelled[traffic.LABEL].map(lambda v: index.get(str(v)))
        bad = labelled[ids.isna()]
        frame[traffic.LABEL] = ids
        frame[prediction] = labelled[prediction].map(lambda p: [float(x) for x in p])
    if len(bad):
        first = bad.iloc[0]
        left_out.append(f"{len(bad)} labelled row(s) with a label that is not a class of "
                        f"{cfg.data.label!r}, e.g. row {first[traffic.ROW_ID]}: "
                        f"{first[traffic.LABEL]!r}")
    frame = frame[frame[traffic.LABEL].notna()].reset_index(drop=True)
    if label.task != label_lib.REGRESSION:
        frame[traffic.LABEL] = frame[traffic.LABEL].astype("int64")
    # Slice columns as strings: TFMA slices on values, and a missing value is no slice.
    for s in cfg.evaluator.slices:
        frame[s] = frame[s].map(lambda v: None if v is None or v != v else str(v))
    return frame, left_out


def measure(cfg: Config, labelled: pd.DataFrame, model_dir: str, output_path: str
            ) -> Optional[Performance]:
    """TFMA on ``labelled`` (rows of traffic with a label); None when there is none.

    TFMA writes its results to ``output_path`` (kept beside the monitoring report).
    """
    if labelled.empty:
        return None
    import tensorflow_model_analysis as tfma

    from components.report.evaluation import load_evaluation

    label = label_lib.of_config(cfg)
    classes = [] if label.task == label_lib.REGRESSION else class_order(cfg, label, model_dir)
    frame, left_out = _frame(cfg, label, labelled, classes)
    if frame.empty:
        return Performance(0, [], [], left_out)
    tfma.analyze_raw_data(frame, raw_eval_config(cfg, label), output_path=output_path)
    evaluation = load_evaluation(SimpleNamespace(uri=output_path), classes)
    failures = [f"{row.metric} {row.candidate:.4f} (threshold {row.threshold}) on "
                f"{row.slice}" for row in evaluation.failed_thresholds if row.kind == "value"]
    slices = [{"slice": s.slice, "count": s.example_count,
               "metrics": {k: round(v, 6) for k, v in s.candidate.items()}}
              for s in evaluation.slices]
    return Performance(len(frame), failures, slices, left_out)
