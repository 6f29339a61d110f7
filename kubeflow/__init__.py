"""Kubeflow Pipelines v2: compile the one pipeline, replay the compiled spec, submit it."""

import components  # noqa: F401  (sets the Keras switch before the entry point imports TensorFlow)
