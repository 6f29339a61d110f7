"""Accuracy and per-class precision/recall derived from TFMA's confusion-matrix combiner."""
import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_specs, metric_types, metric_util

from components import metrics
from pipeline import config, eval_config

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
