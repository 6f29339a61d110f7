"""Kubeflow Pipelines v2: compile the one pipeline, replay the compiled spec, submit it."""
