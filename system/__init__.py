"""Artifact types that Kubeflow Pipelines renders in its UI: ``system.HTML``, ``system.Markdown``.

Why a top-level module named ``system``: TFX's Kubeflow V2 compiler writes a custom
artifact type's TYPE_NAME as its schema title, and the Kubeflow Pipelines UI renders the
titles ``system.HTML`` and ``system.Markdown``. At run time TFX's container entrypoint
imports the class back *from that title* as a Python path, so ``system.HTML`` must be
importable. Like a KFP ``Output[HTML]``, such an artifact's URI is the file itself.
"""
from tfx import types


class HTML(types.Artifact):
    """A self-contained HTML page; the URI is the file."""
    TYPE_NAME = "system.HTML"


class Markdown(types.Artifact):
    """A Markdown document; the URI is the file."""
    TYPE_NAME = "system.Markdown"
