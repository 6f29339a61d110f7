"""The one reader of the Evaluator's TFMA output: its eval config, metrics and plots per
slice, and the validation result. The blessing reasons, the model catalog and the reviewer
report all read an evaluation here."""
from __future__ import annotations

from typing import Any, List, Optional, Tuple


def slice_columns(slice_key: Any) -> List[Tuple[str, str]]:
    """[(column, value)] of a TFMA slice key proto; empty for the overall slice."""
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        parts.append((key.column, str(value)))
    return parts


def load_eval_config(evaluation_uri: str) -> Any:
    """The EvalConfig the Evaluator ran with (raises if the evaluation never wrote it)."""
    from tensorflow_model_analysis.writers import eval_config_writer

    return eval_config_writer.load_eval_run(evaluation_uri)[0]


def load_metrics(evaluation_uri: str) -> List[Any]:
    """MetricsForSlice protos, one per slice."""
    import tensorflow_model_analysis as tfma

    return list(tfma.load_metrics(evaluation_uri))


def load_plots(evaluation_uri: str) -> List[Any]:
    """PlotsForSlice protos, one per slice."""
    import tensorflow_model_analysis as tfma

    return list(tfma.load_plots(evaluation_uri))


def load_validation(evaluation_uri: str) -> Any:
    """The ValidationResult: whether the candidate passed, and each failed threshold."""
    import tensorflow_model_analysis as tfma

    return tfma.load_validation_result(evaluation_uri)


def overall_values(evaluation_uri: str, name: str) -> Tuple[Optional[float], Optional[float]]:
    """(candidate, baseline) value of metric ``name`` on the overall slice; None when absent,
    both None when the evaluation failed midway (no metrics file)."""
    candidate = baseline = None
    try:
        records = load_metrics(evaluation_uri)
    except Exception:  # an evaluation that failed midway has no metrics file
        return None, None
    for record in records:
        if record.slice_key.single_slice_keys:
            continue
        for kv in record.metric_keys_and_values:
            if kv.key.name != name or kv.key.is_diff:
                continue
            value = kv.value.double_value.value
            if kv.key.model_name == "baseline":
                baseline = value
            else:
                candidate = value
    return candidate, baseline
