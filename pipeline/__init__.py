"""The pipeline package: config, the one pipeline factory, runners and the CLI."""
import os

# TFX 1.16 user code and TFMA expect Keras 2 SavedModels; TF 2.16 defaults to Keras 3.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides our own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
