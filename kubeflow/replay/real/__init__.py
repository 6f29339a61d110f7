"""The replay under open-source KFP's own ``driver`` and ``launcher-v2`` (built by ``make
kfp-backend``), against a real MinIO; only what cannot run here is stood in for: Argo's
scheduling and the pods (``engine``, ``pod``, ``sandbox``: a mount namespace per step), the
Kubernetes API (``kube``: two objects on loopback), the API server's cache service
(``cache_api``) and ML Metadata's MySQL (``mlmd``: ml_metadata's store on SQLite).
"""
from kubeflow.replay.real.binaries import NEWEST, VERSIONS, kfp_version
from kubeflow.replay.real.engine import replay

__all__ = ["NEWEST", "VERSIONS", "kfp_version", "replay"]
