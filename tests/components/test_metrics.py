"""Accuracy and per-class precision/recall derived from TFMA's confusion-matrix combiner."""
import numpy as np
import pytest
from tensorflow_model_analysis.metrics import metric_specs, metric_types

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
