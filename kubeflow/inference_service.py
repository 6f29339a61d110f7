"""The KServe InferenceService that serves what the pipeline pushes, written by ``compile``.

KServe's TensorFlow predictor is stock TF Serving reading ``/mnt/models``; ``storageUri:
pvc://<claim>/<path>`` mounts the push destination there from the state volume, and TF Serving
serves its highest numbered version. ``runtimeVersion`` is the TF Serving release of the
TensorFlow that exports the model (KServe's default image is far older). The payload logger
posts every request and response as a CloudEvent to ``kubeflow.logger_url``: the model
server's receiver, which appends them to the prediction log that ``monitor`` reads.
"""
from __future__ import annotations

import os
import posixpath
from importlib import metadata
from typing import Any, Dict, Optional

import yaml

from pipeline.config import Config

API_VERSION = "serving.kserve.io/v1beta1"
# The newest TF Serving release per TensorFlow minor version (tensorflow/serving tags; the
# same versions as the tensorflow-serving-api package on PyPI). TF 2.16 has one: 2.16.1.
TF_SERVING_RELEASES = {"2.14": "2.14.1", "2.15": "2.15.1", "2.16": "2.16.1", "2.17": "2.17.1",
                       "2.18": "2.18.1", "2.19": "2.19.1", "2.20": "2.20.0", "2.21": "2.21.0"}


class ManifestError(ValueError):
    """The manifest cannot be written; the message names the setting or version."""


def runtime_version(tensorflow_version: Optional[str] = None) -> str:
    """The TF Serving image tag for the TensorFlow that exports the model (installed here)."""
    version = tensorflow_version or metadata.version("tensorflow")
    minor = ".".join(version.split(".")[:2])
    if minor not in TF_SERVING_RELEASES:
        raise ManifestError(f"tensorflow {version}: no known TF Serving release for {minor} "
                            f"(known: {', '.join(TF_SERVING_RELEASES)}); add it to "
                            "kubeflow/inference_service.py")
    return TF_SERVING_RELEASES[minor]


def storage_uri(cfg: Config) -> str:
    """``pvc://<state claim>/<serving folder relative to the state folder>``."""
    state, serving = cfg.kubeflow.state_dir.rstrip("/"), cfg.kubeflow.serving_dir.rstrip("/")
    if not serving.startswith(state + "/"):
        raise ManifestError(f"kubeflow.serving_dir: {cfg.kubeflow.serving_dir!r} is not under "
                            f"kubeflow.state_dir {cfg.kubeflow.state_dir!r}")
    return f"pvc://{cfg.kubeflow.state_volume}/{posixpath.relpath(serving, state)}"


def build(cfg: Config, tensorflow_version: Optional[str] = None) -> Dict[str, Any]:
    """The InferenceService named after the pipeline (TF Serving's model name too)."""
    url = cfg.kubeflow.logger_url
    if not url.startswith(("http://", "https://")):
        raise ManifestError(f"kubeflow.logger_url: {url!r} is not an http:// or https:// URL")
    return {
        "apiVersion": API_VERSION,
        "kind": "InferenceService",
        "metadata": {"name": cfg.pipeline_name,
                     "labels": {"app.kubernetes.io/part-of": cfg.pipeline_name}},
        "spec": {"predictor": {
            "logger": {"mode": "all", "url": url},
            "model": {"modelFormat": {"name": "tensorflow"},
                      "runtimeVersion": runtime_version(tensorflow_version),
                      "storageUri": storage_uri(cfg)},
        }},
    }


def path_beside(spec_path: str) -> str:
    """``kubeflow/pipeline.yaml`` -> ``kubeflow/pipeline.inferenceservice.yaml``."""
    stem, _ = os.path.splitext(spec_path)
    return stem + ".inferenceservice.yaml"


def write(manifest: Dict[str, Any], path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# KServe InferenceService for the models the pipeline pushes "
                "(`python -m pipeline compile` writes it).\n")
        yaml.safe_dump(manifest, f, sort_keys=False)
