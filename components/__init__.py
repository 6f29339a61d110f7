"""TFX user code and the project's own components.

Everything here is referenced by dotted path (``components.user.preprocessing.preprocessing_fn``),
so the same code runs in the local Beam run and inside the Kubeflow pipeline image.
"""
import os

# TFX 1.16 user code and TFMA expect Keras 2 SavedModels; TF 2.16 defaults to Keras 3.
# This must happen before TensorFlow is first imported in any process that loads us.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def __getattr__(name: str):
    """Custom artifact classes by their Kubeflow schema title (``components.<Class>``).

    The Kubeflow V2 entrypoint imports a custom artifact type from its title, which must be
    one module and one class; resolving lazily keeps ``import components`` light.
    """
    if name == "DriftReport":
        from components.drift_check import DriftReport

        return DriftReport
    raise AttributeError(f"module 'components' has no attribute {name!r}")
