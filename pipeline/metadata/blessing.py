"""Why a candidate was not blessed, in words, from TFMA's validation result."""
from __future__ import annotations

from typing import List

from tensorflow_model_analysis.proto import config_pb2, validation_result_pb2

from components.lib import tfma_results


def _slice(key) -> str:
    return ", ".join(f"{column}={value}" for column, value in tfma_results.slice_columns(key))


def _failure(failure: validation_result_pb2.ValidationFailure, where: str) -> str:
    name = failure.metric_key.name
    value = failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    suffix = f" on {where}" if where else ""
    if failure.metric_key.is_diff:
        change = threshold.change_threshold
        if change.HasField("relative"):
            return (f"{name} change {value:+.4g} against the serving model, more than the "
                    f"{change.relative.value:.0%} allowed{suffix}")
        worse = "<" if change.direction == config_pb2.MetricDirection.HIGHER_IS_BETTER else ">"
        return f"{name} change {value:+.2f} {worse} {change.absolute.value:+.2f} against the serving model{suffix}"
    bounds = threshold.value_threshold
    if bounds.HasField("lower_bound") and value < bounds.lower_bound.value:
        return f"{name} {value:.2f} < {bounds.lower_bound.value:.2f}{suffix}"
    if bounds.HasField("upper_bound") and value > bounds.upper_bound.value:
        return f"{name} {value:.4g} > {bounds.upper_bound.value:.4g}{suffix}"
    return f"{name} {value:.2f}{suffix}: {failure.message}"


def reasons(evaluation_uri: str, limit: int = 3) -> List[str]:
    """Up to ``limit`` failed thresholds, the overall slice first, e.g. 'accuracy 0.41 < 0.80'."""
    result = tfma_results.load_validation(evaluation_uri)
    found = []
    for per_slice in sorted(result.metric_validations_per_slice,
                            key=lambda s: len(s.slice_key.single_slice_keys)):
        where = _slice(per_slice.slice_key)
        found += [_failure(f, where) for f in per_slice.failures]
    if result.missing_slices:
        found.append(f"{len(result.missing_slices)} slice(s) missing from the eval data")
    if not found and not result.validation_ok:
        found.append("validation failed (see the Evaluator's validation result)")
    extra = len(found) - limit
    return found[:limit] + ([f"{extra} more"] if extra > 0 else [])
