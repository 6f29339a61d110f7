"""What a KFP install runs next to the task pods, brought up on loopback for one replay: ML
Metadata, the API server's cache service, and the Kubernetes objects the programs read (the
``kfp-launcher`` ConfigMap naming MinIO as the store, and MinIO's Secret)."""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Dict, Iterator, Optional
from urllib.parse import urlparse

import yaml

from kubeflow.replay.objectstore import REGION, Credentials
from kubeflow.replay.real.cache_api import CacheApiServer
from kubeflow.replay.real.kube import KubeApi
from kubeflow.replay.real.mlmd import MlmdServer

MINIO_SECRET = "mlpipeline-minio-artifact"  # config/env.go: where a default install keeps the keys


@dataclass
class Services:
    mlmd: MlmdServer
    api: CacheApiServer
    kube: KubeApi

    def env(self) -> Dict[str, str]:
        """What a pod's environment says about the services (Kubernetes service variables)."""
        return {**self.kube.env(), "ML_PIPELINE_SERVICE_HOST": "127.0.0.1",
                "ML_PIPELINE_SERVICE_PORT_GRPC": str(self.api.port),
                "METADATA_GRPC_SERVICE_HOST": "127.0.0.1",
                "METADATA_GRPC_SERVICE_PORT": str(self.mlmd.port)}


def launcher_config(credentials: Credentials, default_root: Optional[str]) -> Dict[str, str]:
    """The ``kfp-launcher`` ConfigMap: MinIO's endpoint for ``minio://`` and ``s3://`` roots,
    its keys from the Secret, and the default root if one is given."""
    endpoint = urlparse(credentials.endpoint)
    provider = {"default": {"endpoint": endpoint.netloc, "disableSSL": endpoint.scheme == "http",
                            "region": REGION, "forcePathStyle": True,
                            "credentials": {"fromEnv": False, "secretRef": {
                                "secretName": MINIO_SECRET, "accessKeyKey": "accesskey",
                                "secretKeyKey": "secretkey"}}}}
    data = {"providers": yaml.safe_dump({"minio": provider, "s3": provider})}
    if default_root:
        data["defaultPipelineRoot"] = default_root
    return data


@contextlib.contextmanager
def services(root: str, run_dir: str, namespace: str, credentials: Credentials,
             default_root: Optional[str] = None) -> Iterator[Services]:
    """ML Metadata and the cache keep their state under ``root`` (a later replay sees it);
    the Kubernetes stand-in's certificate and service account files go to ``run_dir``."""
    secret = {"accesskey": credentials.access_key, "secretkey": credentials.secret_key}
    with MlmdServer(os.path.join(root, "mlmd.sqlite")) as mlmd, \
            CacheApiServer(os.path.join(root, "cache-tasks.json")) as api, \
            KubeApi(run_dir, namespace, {"kfp-launcher": launcher_config(credentials, default_root)},
                    {MINIO_SECRET: secret}) as kube:
        yield Services(mlmd, api, kube)
