"""The TFMA EvalConfig built from the pipeline config and the curated schema."""
from __future__ import annotations

import json
from typing import Dict, List

import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils

from components import metrics
from components.preprocessing import transformed_name
from pipeline.config import Config


def label_classes(schema_path: str, label: str) -> List[str]:
    """The label's values from its string domain in the schema."""
    schema = io_utils.SchemaReader().read(schema_path)
    feature = next((f for f in schema.feature if f.name == label), None)
    if feature is None:
        raise ValueError(f"{schema_path}: label {label!r} is not a feature of the schema")
    if feature.HasField("string_domain"):
        return list(feature.string_domain.value)
    domains = {d.name: d for d in schema.string_domain}
    if feature.domain not in domains:
        raise ValueError(f"{schema_path}: label {label!r} needs a string domain listing its classes")
    return list(domains[feature.domain].value)


def model_and_slicing_specs(cfg: Config) -> Dict[str, list]:
    """The candidate's model spec (raw examples in, TFMA transforms the label) and the slices:
    overall and each of ``evaluator.slices``."""
    return {
        "model_specs": [tfma.ModelSpec(
            signature_name="serving_default", label_key=transformed_name(cfg.data.label),
            prediction_key="probabilities", preprocessing_function_names=["transform_features"])],
        "slicing_specs": [tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[s])
                                                 for s in cfg.evaluator.slices],
    }


def build(cfg: Config) -> tfma.EvalConfig:
    """Accuracy, per-class precision/recall, confusion matrix and example count; overall and
    by each configured slice. The accuracy gate has a value threshold and a change threshold
    against the serving model (dropped by TFMA when nothing serves yet)."""
    num_classes = len(label_classes(cfg.schema, cfg.data.label))
    accuracy_gate = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": cfg.evaluator.min_accuracy}),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -cfg.evaluator.max_accuracy_drop}))
    # Accuracy and per-class precision/recall derive from the confusion matrix TFMA computes
    # for the plot anyway: one per-example combiner instead of one per metric and class.
    derived = {"module": metrics.__name__}
    return tfma.EvalConfig(
        **model_and_slicing_specs(cfg),
        metrics_specs=[
            tfma.MetricsSpec(metrics=[
                tfma.MetricConfig(class_name="ExampleCount"),
                tfma.MetricConfig(class_name="ConfusionAccuracy", threshold=accuracy_gate,
                                  **derived),
                tfma.MetricConfig(class_name="ClassPrecisionRecall",
                                  config=json.dumps({"num_classes": num_classes}), **derived),
                tfma.MetricConfig(class_name="ConfusionMatrixPlot", **derived),
            ]),
        ],
        # Not the Keras metrics compiled into the model: TFMA would run them through Keras per
        # batch and load the SavedModel again for each of their combiners.
        options=tfma.Options(include_default_metrics={"value": False}))
