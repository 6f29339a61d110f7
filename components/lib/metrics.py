"""TFMA metrics derived from one multi-class confusion matrix, and a regression sample.

Accuracy and per-class precision and recall all follow from the confusion matrix that the
report already plots (top predicted class against actual class). Deriving them from it
leaves TFMA one per-example combiner per model and slice, where stock metrics ran one per
metric and class: Keras' ``SparseCategoricalAccuracy`` (which also loads the SavedModel again
in every combiner) and a binarized confusion matrix per class for ``Precision``/``Recall``.
At 200k rows that cut the Evaluator from 91 s to about a third (``bench/``).

Precision and recall here are of the top predicted class, like the accuracy and the plot;
a class never predicted (or never present) gets 0, as Keras' metrics give.

The plot is TFMA's ``multi_class_confusion_matrix_plot`` (same name, same proto) built from
that same matrix. The matrix has its own name, not TFMA's: TFMA de-duplicates computations by
combiner and key, so sharing the name with TFMA's plot would let the order of the metrics
decide which per-example extraction runs.
"""
from __future__ import annotations

import struct
import zlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.metrics import multi_class_confusion_matrix_metrics as mcm
from tensorflow_model_analysis.utils import model_util

ACCURACY = "accuracy"
PRECISION = "precision"
RECALL = "recall"
PLOT = "multi_class_confusion_matrix_plot"  # TFMA's own plot name: viewers know it
# Binary labels: TFMA's AUC and precision/recall at the decision threshold, of class id 1.
AUC = "auc"
PRECISION_AT_THRESHOLD = "precision_at_threshold"
RECALL_AT_THRESHOLD = "recall_at_threshold"
BINARY_METRICS = (AUC, PRECISION_AT_THRESHOLD, RECALL_AT_THRESHOLD)
POSITIVE_CLASS_ID = 1
# Regression: the sample of (label, prediction) pairs the report plots.
REGRESSION_SAMPLE = "regression_sample"
SAMPLE_SIZE = 500
_MATRICES = "_top_class_confusion_matrices"
_THRESHOLD = 0.0  # every example counts for its top class, as in the confusion matrix plot
_UNWEIGHTED = np.array([1.0])

Extract = Callable[..., Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]]


def _of_model(value: Any, model_name: str) -> Any:
    """With a baseline, TFMA keys labels and predictions by model name."""
    return value[model_name] if isinstance(value, Mapping) and model_name in value else value


def label_prediction_weight(eval_config, model_name: str) -> Extract:
    """The per-example (label, prediction, weight) the confusion-matrix combiner reads.

    TFMA's generic ``metric_util.to_label_prediction_example_weight`` serves every case TFMA
    supports, with dozens of checks and conversions per example: two thirds of the combiner's
    time, and the combiner runs once per example and slice. For this pipeline's case, an
    unweighted single class id and a vector of class probabilities, picking the two arrays is
    the whole job. Anything else (weights, one-hot or missing labels, multiple outputs) goes
    to the generic one.
    """
    spec = model_util.get_model_spec(eval_config, model_name) if eval_config else None
    prediction_key = spec.prediction_key if spec else ""

    def extract(inputs: metric_types.StandardMetricInputs, **kwargs):
        if not kwargs.get("example_weighted") and not kwargs.get("output_name"):
            label = _of_model(inputs.label, model_name)
            prediction = _of_model(inputs.prediction, model_name)
            if isinstance(prediction, Mapping) and prediction_key:
                prediction = prediction.get(prediction_key)
            if (isinstance(label, np.ndarray) and label.size == 1
                    and isinstance(prediction, np.ndarray) and prediction.ndim == 1
                    and prediction.size > 1):
                yield label, prediction, _UNWEIGHTED
                return
        yield from metric_util.to_label_prediction_example_weight(
            inputs, eval_config=eval_config, model_name=model_name, **kwargs)

    return extract


def _matrix_computations(eval_config, model_name: str, output_name: str,
                         example_weighted: bool) -> Tuple[List, metric_types.MetricKey]:
    """The shared confusion-matrix combiner (TFMA de-duplicates it) and its result key."""
    computations = mcm.multi_class_confusion_matrices(
        thresholds=[_THRESHOLD], name=_MATRICES,
        extract_label_prediction_and_weight=label_prediction_weight(eval_config, model_name),
        eval_config=eval_config, model_name=model_name, output_name=output_name,
        example_weighted=example_weighted)
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


def _plot(name: str = PLOT, eval_config=None, model_name: str = "", output_name: str = "",
          example_weighted: bool = False) -> metric_types.MetricComputations:
    key = metric_types.PlotKey(name=name, model_name=model_name, output_name=output_name,
                               example_weighted=example_weighted)
    computations, matrices = _matrix_computations(eval_config, model_name, output_name,
                                                  example_weighted)

    def result(metrics) -> Dict[metric_types.PlotKey, Any]:
        return {key: metrics[matrices].to_proto().multi_class_confusion_matrix_at_thresholds}

    computations.append(metric_types.DerivedMetricComputation(keys=[key], result=result))
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


class ConfusionMatrixPlot(metric_types.Metric):
    """TFMA's multi-class confusion matrix plot (top class at threshold 0), from the shared
    matrix."""

    def __init__(self, name: str = PLOT):
        super().__init__(metric_util.merge_per_key_computations(_plot), name=name)


class _SampleCombiner(beam.CombineFn):
    """Up to ``size`` (label, prediction) pairs, the same ones however Beam splits the data:
    each pair is ranked by a hash of its values and the lowest ranks are kept."""

    def __init__(self, key: metric_types.MetricKey, eval_config, size: int):
        self._key, self._eval_config, self._size = key, eval_config, size

    def _trim(self, pairs: List[Tuple[int, float, float]]) -> List[Tuple[int, float, float]]:
        return sorted(pairs)[: self._size]

    def create_accumulator(self) -> List[Tuple[int, float, float]]:
        return []

    def add_input(self, pairs, element: metric_types.StandardMetricInputs):
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config, model_name=self._key.model_name,
                output_name=self._key.output_name):
            actual, predicted = float(np.ravel(label)[0]), float(np.ravel(prediction)[0])
            pairs.append((zlib.crc32(struct.pack("dd", actual, predicted)), actual, predicted))
        return self._trim(pairs) if len(pairs) > 2 * self._size else pairs

    def merge_accumulators(self, accumulators):
        return self._trim([pair for pairs in accumulators for pair in pairs])

    def extract_output(self, pairs) -> Dict[metric_types.MetricKey, np.ndarray]:
        kept = self._trim(pairs)
        return {self._key: np.array([[a, p] for _, a, p in kept], dtype=np.float64).reshape(-1, 2)}


def _regression_sample(name: str = REGRESSION_SAMPLE, eval_config=None, model_name: str = "",
                       output_name: str = "", example_weighted: bool = False,
                       size: int = SAMPLE_SIZE) -> metric_types.MetricComputations:
    key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name,
                                 example_weighted=example_weighted)
    return [metric_types.MetricComputation(
        keys=[key], preprocessors=None, combiner=_SampleCombiner(key, eval_config, size))]


class RegressionSample(metric_types.Metric):
    """A deterministic sample of (label, prediction) pairs, an [n, 2] array: the report's
    predicted-against-actual and residual plots."""

    def __init__(self, name: str = REGRESSION_SAMPLE, size: int = SAMPLE_SIZE):
        super().__init__(metric_util.merge_per_key_computations(_regression_sample),
                         name=name, size=size)


metric_types.register_metric(ConfusionAccuracy)
metric_types.register_metric(ConfusionMatrixPlot)
metric_types.register_metric(ClassPrecisionRecall)
metric_types.register_metric(RegressionSample)
