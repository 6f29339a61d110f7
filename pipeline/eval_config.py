"""The TFMA EvalConfig built from the pipeline config and the curated schema."""
from __future__ import annotations

import json
from typing import Dict, Optional

import tensorflow_model_analysis as tfma

from components.lib import metrics
from components.user.model import PREDICTIONS
from components.user.preprocessing import transformed_name
from components.lib import label as label_lib
from pipeline.config import Config


def model_and_slicing_specs(cfg: Config, label: Optional[label_lib.Label] = None
                            ) -> Dict[str, list]:
    """The candidate's model spec and the slices: overall and each of ``evaluator.slices``.

    A classifier: raw examples in, TFMA transforms the label to its class id and reads the
    ``probabilities``. A regressor: the raw label against ``predictions``, both in the
    label's units, so no transform is needed.
    """
    label = label or label_lib.of_config(cfg)
    if label.task == label_lib.REGRESSION:
        spec = tfma.ModelSpec(signature_name="serving_default", label_key=cfg.data.label,
                              prediction_key=PREDICTIONS)
    else:
        spec = tfma.ModelSpec(
            signature_name="serving_default", label_key=transformed_name(cfg.data.label),
            prediction_key="probabilities", preprocessing_function_names=["transform_features"])
    return {
        "model_specs": [spec],
        "slicing_specs": [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[s])
                                                 for s in cfg.evaluator.slices],
    }


def _classification_specs(cfg: Config, label: label_lib.Label) -> list:
    """Accuracy (gated), per-class precision/recall, confusion matrix; for a binary label
    also AUC and precision/recall of class id 1 at ``evaluator.decision_threshold``."""
    accuracy_gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.evaluator.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -cfg.evaluator.max_accuracy_drop}))
    # Accuracy and per-class precision/recall derive from the confusion matrix TFMA computes
    # for the plot anyway: one per-example combiner instead of one per metric and class.
    derived = {"module": metrics.__name__}
    specs = [tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="ConfusionAccuracy", threshold=accuracy_gate, **derived),
        tfma.MetricConfig(class_name="ClassPrecisionRecall",
                          config=json.dumps({"num_classes": len(label.classes)}), **derived),
        tfma.MetricConfig(class_name="ConfusionMatrixPlot", **derived),
    ])]
    if label.binary:
        at = {"thresholds": [cfg.evaluator.decision_threshold]}
        specs.append(tfma.MetricsSpec(
            metrics=[tfma.MetricConfig(class_name="AUC", config=json.dumps({"name": metrics.AUC})),
                     tfma.MetricConfig(class_name="Precision", config=json.dumps(
                         {"name": metrics.PRECISION_AT_THRESHOLD, **at})),
                     tfma.MetricConfig(class_name="Recall", config=json.dumps(
                         {"name": metrics.RECALL_AT_THRESHOLD, **at}))],
            binarize=tfma.BinarizationOptions(class_ids={"values": [metrics.POSITIVE_CLASS_ID]})))
    return specs


def _regression_specs(cfg: Config) -> list:
    """Mean squared and absolute error, the gated one bounded by ``evaluator.max_error`` and
    by ``evaluator.max_error_increase`` (relative) against the serving model; and a sample
    of (label, prediction) pairs for the report's plots."""
    gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(upper_bound={"value": cfg.evaluator.max_error}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.LOWER_IS_BETTER,
            relative={"value": cfg.evaluator.max_error_increase}))
    errors = {"mean_squared_error": "MeanSquaredError", "mean_absolute_error": "MeanAbsoluteError"}
    gated = cfg.evaluator.regression_metric
    return [tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        *[tfma.MetricConfig(class_name=cls, **({"threshold": gate} if name == gated else {}))
          for name, cls in errors.items()],
        tfma.MetricConfig(class_name="RegressionSample", module=metrics.__name__),
    ])]


def build(cfg: Config, label: Optional[label_lib.Label] = None) -> tfma.EvalConfig:
    """The metrics of the task, overall and by each configured slice, with a value threshold
    and a change threshold against the serving model (dropped by TFMA when nothing serves)."""
    label = label or label_lib.of_config(cfg)
    specs = (_regression_specs(cfg) if label.task == label_lib.REGRESSION
             else _classification_specs(cfg, label))
    return tfma.EvalConfig(
        **model_and_slicing_specs(cfg, label), metrics_specs=specs,
        # Not the Keras metrics compiled into the model: TFMA would run them through Keras per
        # batch and load the SavedModel again for each of their combiners.
        options=tfma.Options(include_default_metrics={"value": False}))
