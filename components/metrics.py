"""TFMA metrics derived from one multi-class confusion matrix.

Accuracy and per-class precision and recall all follow from the confusion matrix that the
report already plots (top predicted class against actual class). Deriving them from it
leaves TFMA one per-example combiner per model and slice, where stock metrics ran one per
metric and class: Keras' ``SparseCategoricalAccuracy`` (which also loads the SavedModel again
in every combiner) and a binarized confusion matrix per class for ``Precision``/``Recall``.
At 200k rows that cut the Evaluator from 91 s to about a third (``bench/``).

Precision and recall here are of the top predicted class, like the accuracy and the plot;
a class never predicted (or never present) gets 0, as Keras' metrics give.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mcm

ACCURACY = "accuracy"
PRECISION = "precision"
RECALL = "recall"
_THRESHOLD = 0.0  # every example counts for its top class, as in the confusion matrix plot


def _matrix_computations(eval_config, model_name: str, output_name: str,
                         example_weighted: bool) -> Tuple[List, metric_types.MetricKey]:
    """The shared confusion-matrix combiner (TFMA de-duplicates it) and its result key."""
    computations = mcm.multi_class_confusion_matrices(
        thresholds=[_THRESHOLD], eval_config=eval_config, model_name=model_name,
        output_name=output_name, example_weighted=example_weighted)
    return computations, computations[-1].keys[-1]


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def accuracy_of(counts: Dict) -> float:
    """Share of the weight on the diagonal of ``{MatrixEntryKey: weight}``."""
    correct = sum(w for k, w in counts.items() if k.actual_class_id == k.predicted_class_id)
    return _ratio(correct, sum(counts.values()))


def precision_recall_of(counts: Dict, class_id: int) -> Tuple[float, float]:
    """(precision, recall) of ``class_id`` from ``{MatrixEntryKey: weight}``."""
    hits = counts.get(mcm.MatrixEntryKey(class_id, class_id), 0.0)
    predicted = sum(w for k, w in counts.items() if k.predicted_class_id == class_id)
    actual = sum(w for k, w in counts.items() if k.actual_class_id == class_id)
    return _ratio(hits, predicted), _ratio(hits, actual)


def _accuracy(name: str = ACCURACY, eval_config=None, model_name: str = "",
              output_name: str = "", example_weighted: bool = False
              ) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    computations, matrices = _matrix_computations(eval_config, model_name, output_name,
                                                  example_weighted)

    def result(metrics) -> Dict[metric_types.MetricKey, float]:
        return {key: accuracy_of(metrics[matrices].get(_THRESHOLD, {}))}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
    return computations


def _precision_recall(num_classes: int, name: str = "", eval_config=None, model_name: str = "",
                      output_name: str = "", example_weighted: bool = False
                      ) -> metric_types.MetricComputations:
    def key(metric: str, class_id: int) -> metric_types.MetricKey:
        return metric_types.MetricKey(
            name=metric, model_name=model_name, output_name=output_name,
            sub_key=metric_types.SubKey(class_id=class_id), example_weighted=example_weighted)

    keys = [key(m, c) for c in range(num_classes) for m in (PRECISION, RECALL)]
    computations, matrices = _matrix_computations(eval_config, model_name, output_name,
                                                  example_weighted)

    def result(metrics) -> Dict[metric_types.MetricKey, float]:
        counts = metrics[matrices].get(_THRESHOLD, {})
        values = {}
        for class_id in range(num_classes):
            precision, recall = precision_recall_of(counts, class_id)
            values[key(PRECISION, class_id)] = precision
            values[key(RECALL, class_id)] = recall
        return values

    computations.append(metric_types.DerivedMetricComputation(keys=keys, result=result))
    return computations


class ConfusionAccuracy(metric_types.Metric):
    """Accuracy of the top predicted class, from the shared confusion matrix."""

    def __init__(self, name: str = ACCURACY):
        super().__init__(metric_util.merge_per_key_computations(_accuracy), name=name)


class ClassPrecisionRecall(metric_types.Metric):
    """Precision and recall of each class (``class_id`` sub keys), from the shared matrix."""

    def __init__(self, num_classes: int, name: str = "class_precision_recall"):
        super().__init__(metric_util.merge_per_key_computations(_precision_recall),
                         num_classes=num_classes, name=name)


metric_types.register_metric(ConfusionAccuracy)
metric_types.register_metric(ClassPrecisionRecall)
