"""TFX user code and the project's own components.

Everything here is referenced by dotted path (``components.user.preprocessing.preprocessing_fn``),
so the same code runs in the local Beam run and inside the Kubeflow pipeline image.
"""
import os

# The one place the Keras switch is set. TFX 1.16 user code and TFMA expect Keras 2
# SavedModels; TF 2.16 defaults to Keras 3. It must happen before TensorFlow is first imported,
# so ``pipeline`` and ``kubeflow`` import this package first, and the user code, the components
# and the Kubeflow entry point all live below it.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides our own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def __getattr__(name: str):
    """Custom artifact classes by their Kubeflow schema title (``components.<Class>``).

    The Kubeflow V2 entrypoint imports a custom artifact type from its title, which must be
    one module and one class; resolving lazily keeps ``import components`` light.
    """
    if name == "DriftReport":
        from components.drift_check import DriftReport

        return DriftReport
    raise AttributeError(f"module 'components' has no attribute {name!r}")
