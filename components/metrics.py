"""The custom TFMA metrics under the module path that output roots made before the package
layout (components/lib/) have stored: their Evaluator outputs name each metric class
``components.metrics.<Class>``, and TFMA imports it back by that path whenever the catalog,
``rollback`` or the report reads such a run. New runs name ``components.lib.metrics``."""
from components.lib.metrics import (  # noqa: F401
    ClassPrecisionRecall, ConfusionAccuracy, ConfusionMatrixPlot, RegressionSample)
