"""A regressor more than ``evaluator.max_error_increase`` worse than the serving model fails
TFMA's validation, and the summary line says so."""
import os

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator
from tensorflow_model_analysis.metrics import metric_types

from pipeline import config, eval_config
from pipeline.metadata import blessing
from tests.conftest import ROOT


def _failures(candidate: float, baseline: float):
    ec = tfma.utils.update_eval_config_with_defaults(
        eval_config.build(config.load(os.path.join(ROOT, "examples", "deliveries.yaml"))),
        has_baseline=True)
    names = {s.is_baseline: s.name for s in ec.model_specs}

    def key(model: str, diff: bool = False):
        return metric_types.MetricKey(name="mean_absolute_error", model_name=model, is_diff=diff,
                                      example_weighted=False)

    values = {key(names[False]): candidate, key(names[True]): baseline,
              key(names[False], diff=True): candidate - baseline}
    result = metrics_validator.validate_metrics(((), values), ec)
    return [f for s in result.metric_validations_per_slice for f in s.failures]


@pytest.mark.parametrize("candidate, fails", [(2.08, False), (2.2, True), (1.5, False)])
def test_the_change_threshold_is_relative_to_the_serving_models_error(candidate, fails):
    failures = _failures(candidate, baseline=2.0)  # examples/deliveries.yaml allows 5% worse
    assert bool(failures) == fails
    if fails:
        (failure,) = failures
        assert blessing._failure(failure, "") == (
            "mean_absolute_error change +0.2 against the serving model, more than the 5% allowed")
