"""The pipeline package: config, the one pipeline factory, the local orchestrator, ML Metadata
readers, operations and the CLI."""
import components  # noqa: F401  (sets the Keras switch before anything imports TensorFlow)
