"""Accuracy and per-class precision/recall derived from TFMA's confusion-matrix combiner."""
import importlib

import numpy as np
import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types, metric_util

from components.lib import metrics
from components.user.model import PREDICTIONS
from pipeline import config, eval_config
from tests.conftest import ROOT

LABELS = [0, 0, 1, 2, 2, 2, 1]
TOP = [0, 1, 1, 2, 0, 2, 1]  # the top predicted class of each example


def _run(computations):
    """Feeds the examples through the combiner, then the derived computation, as TFMA does."""
    combiner_step, derived = computations[0], computations[-1]
    combiner = combiner_step.combiner
    accumulator = combiner.create_accumulator()
    for label, top in zip(LABELS, TOP):
        probabilities = np.full(3, 0.1)
        probabilities[top] = 0.8
        accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
            labels=np.array([label]), predictions=probabilities, example_weights=np.array([1.0])))
    return derived.result(combiner.extract_output(accumulator))


def test_accuracy_is_the_share_of_top_predictions_that_match():
    values = _run(metrics._accuracy())
    assert list(values.values()) == [pytest.approx(5 / 7)]


def test_precision_and_recall_of_each_class():
    values = _run(metrics._precision_recall(num_classes=4))
    by_name = {(k.name, k.sub_key.class_id): v for k, v in values.items()}
    labels, top = np.array(LABELS), np.array(TOP)
    for c in range(3):
        hits = np.sum((labels == c) & (top == c))
        assert by_name[("precision", c)] == pytest.approx(hits / np.sum(top == c))
        assert by_name[("recall", c)] == pytest.approx(hits / np.sum(labels == c))
    # A class that never occurs is 0, not a division error.
    assert by_name[("precision", 3)] == 0.0 and by_name[("recall", 3)] == 0.0


def test_eval_config_resolves_the_derived_metrics_with_one_per_example_combiner():
    spec = eval_config.build(config.load())
    computations = metric_specs.to_computations(spec.metrics_specs, eval_config=spec)
    keys = {(k.name, k.sub_key.class_id if k.sub_key else None)
            for c in computations for k in c.keys}
    assert ("accuracy", None) in keys
    assert {("precision", c) for c in range(3)} <= keys and {("recall", c) for c in range(3)} <= keys
    # Every confusion-matrix combiner is the same computation, which TFMA de-duplicates.
    matrices = {c for c in computations if isinstance(c, metric_types.MetricComputation)
                and "confusion" in c.keys[0].name}
    assert len(matrices) == 1
    assert not spec.options.include_default_metrics.value
    # The plot is TFMA's, under its own name, from that same matrix.
    assert "multi_class_confusion_matrix_plot" in {k.name for c in computations for k in c.keys}


def test_the_plot_is_tfmas_confusion_matrix_proto():
    (plot,) = _run(metrics._plot()).values()
    (matrix,) = plot.matrices
    counts = {(e.actual_class_id, e.predicted_class_id): e.num_weighted_examples
              for e in matrix.entries}
    assert counts == {(0, 0): 1, (0, 1): 1, (1, 1): 2, (2, 2): 2, (2, 0): 1}


SPEC = eval_config.build(config.load())
GENERIC = metric_util.to_label_prediction_example_weight
ARGS = dict(output_name="", flatten=False, require_single_example_weight=True)


def _both(inputs, model_name="", **overrides):
    kwargs = {**ARGS, "example_weighted": False, **overrides}
    ours = list(metrics.label_prediction_weight(SPEC, model_name)(inputs, **kwargs))
    generic = list(GENERIC(inputs, eval_config=SPEC, model_name=model_name, **kwargs))
    return ours, generic


def _same(ours, generic):
    assert len(ours) == len(generic) == 1
    for a, b in zip(ours[0], generic[0]):
        np.testing.assert_array_equal(np.asarray(a, dtype=float).ravel(),
                                      np.asarray(b, dtype=float).ravel())


PROBABILITIES = np.array([0.2, 0.7, 0.1], dtype=np.float32)
OUTPUTS = {"class_ids": np.array([1]), "classes": np.array([b"Gentoo"], dtype=object),
           "probabilities": PROBABILITIES}


@pytest.mark.parametrize("inputs, model_name", [
    (metric_types.StandardMetricInputs(labels=np.array([2]), predictions=OUTPUTS), ""),
    (metric_types.StandardMetricInputs(labels=np.array([0]), predictions=PROBABILITIES), ""),
    # With a baseline, TFMA keys labels and predictions by model name.
    (metric_types.StandardMetricInputs(
        labels={"candidate": np.array([1]), "baseline": np.array([1])},
        predictions={"candidate": OUTPUTS, "baseline": {**OUTPUTS, "probabilities": 1 - PROBABILITIES}}),
     "candidate"),
], ids=["serving outputs", "probabilities", "with a baseline"])
def test_the_lean_extraction_gives_what_tfmas_generic_one_gives(inputs, model_name):
    spec = SPEC
    if model_name:  # two model specs, as the Evaluator makes them when a model serves
        spec = eval_config.build(config.load())
        spec.model_specs[0].name = "candidate"
        baseline = spec.model_specs.add()
        baseline.CopyFrom(spec.model_specs[0])
        baseline.name, baseline.is_baseline = "baseline", True
    kwargs = {**ARGS, "example_weighted": False}
    ours = list(metrics.label_prediction_weight(spec, model_name)(inputs, **kwargs))
    generic = list(GENERIC(inputs, eval_config=spec, model_name=model_name, **kwargs))
    _same(ours, generic)
    assert ours[0][2] is metrics._UNWEIGHTED  # it took the lean path, not the fallback


def test_weighted_or_one_hot_inputs_go_to_the_generic_extraction():
    weighted = metric_types.StandardMetricInputs(
        labels=np.array([1]), predictions=OUTPUTS, example_weights=np.array([3.0]))
    ours, generic = _both(weighted, example_weighted=True)
    _same(ours, generic)
    assert float(ours[0][2][0]) == 3.0
    one_hot = metric_types.StandardMetricInputs(labels=np.array([0, 1, 0]), predictions=OUTPUTS)
    ours, generic = _both(one_hot)
    _same(ours, generic)
    assert ours[0][2] is not metrics._UNWEIGHTED


def _sample(pairs, size):
    (computation,) = metrics._regression_sample(size=size)
    combiner = computation.combiner
    accumulator = combiner.create_accumulator()
    for label, prediction in pairs:
        accumulator = combiner.add_input(accumulator, metric_types.StandardMetricInputs(
            labels=np.array([label]), predictions=np.array([prediction]),
            example_weights=np.array([1.0])))
    return combiner, accumulator


def test_the_regression_sample_keeps_the_same_pairs_however_the_data_is_split():
    pairs = [(float(i), float(i) + 0.5 * (i % 3)) for i in range(40)]
    combiner, whole = _sample(pairs, size=10)
    (kept,) = combiner.extract_output(whole).values()
    _, first = _sample(pairs[:13], size=10)
    _, second = _sample(pairs[13:], size=10)
    (merged,) = combiner.extract_output(combiner.merge_accumulators([second, first])).values()
    assert kept.shape == (10, 2)
    np.testing.assert_array_equal(kept, merged)
    assert {tuple(p) for p in kept} <= set(pairs)
    combiner, small = _sample(pairs[:4], size=10)  # fewer than the size: all of them
    (everything,) = combiner.extract_output(small).values()
    assert sorted(map(tuple, everything)) == pairs[:4]


def _spec_keys(spec):
    computations = metric_specs.to_computations(spec.metrics_specs, eval_config=spec)
    return {(k.name, k.sub_key.class_id if k.sub_key else None) for c in computations for k in c.keys}


def _thresholds(spec):
    return {m.class_name: m.threshold for s in spec.metrics_specs for m in s.metrics
            if m.HasField("threshold")}


def test_a_binary_label_adds_auc_and_precision_recall_of_class_1_at_the_threshold():
    cfg = config.load(f"{ROOT}/examples/tips.yaml", {"evaluator.decision_threshold": 0.3})
    spec = eval_config.build(cfg)
    keys = _spec_keys(spec)
    assert {("auc", 1), ("precision_at_threshold", 1), ("recall_at_threshold", 1),
            ("accuracy", None)} <= keys
    binary = [m for s in spec.metrics_specs if s.binarize.class_ids.values for m in s.metrics]
    assert all('"thresholds": [0.3]' in m.config for m in binary if m.class_name != "AUC")
    assert list(_thresholds(spec)) == ["ConfusionAccuracy"]
    # The penguins labels (three classes) get none of it.
    assert not any(s.binarize.class_ids.values for s in eval_config.build(config.load()).metrics_specs)


def test_a_regression_is_gated_on_its_error_with_a_bound_and_a_relative_worsening():
    cfg = config.load(f"{ROOT}/examples/deliveries.yaml",
                      {"evaluator.regression_metric": "mean_squared_error",
                       "evaluator.max_error": 40.0, "evaluator.max_error_increase": 0.1})
    spec = eval_config.build(cfg)
    assert spec.model_specs[0].label_key == "duration_min"  # the raw label: errors in minutes
    assert spec.model_specs[0].prediction_key == PREDICTIONS
    assert {("mean_squared_error", None), ("mean_absolute_error", None),
            (metrics.REGRESSION_SAMPLE, None), ("example_count", None)} <= _spec_keys(spec)
    (gated, threshold), = _thresholds(spec).items()
    assert gated == "MeanSquaredError"
    assert threshold.value_threshold.upper_bound.value == 40.0
    assert threshold.change_threshold.relative.value == pytest.approx(0.1)
    assert threshold.change_threshold.direction == tfma.MetricDirection.LOWER_IS_BETTER


@pytest.mark.parametrize("class_name", ["ConfusionAccuracy", "ClassPrecisionRecall",
                                        "ConfusionMatrixPlot", "RegressionSample"])
def test_an_output_root_from_before_the_layout_still_resolves_its_metrics(class_name):
    """Stored eval configs of earlier runs name ``components.metrics``: the catalog and the
    report import the class back from there, and get the same metric."""
    from tensorflow_model_analysis.proto import config_pb2

    from pipeline.metadata import catalog

    assert getattr(importlib.import_module("components.metrics"), class_name) is \
        getattr(metrics, class_name)
    if class_name == "ConfusionAccuracy":  # the gated metric's name, as the catalog reads it
        old = config_pb2.MetricConfig(class_name=class_name, module="components.metrics")
        assert catalog._metric_name(old) == metrics.ACCURACY
