"""A local stand-in for open-source Kubeflow Pipelines' v2 backend, playing a chosen version.

It replays a compiled spec task by task, doing to each task what the OSS backend does
(kubeflow/pipelines ``backend/src/v2``), so that what fails on a cluster fails here first.
It is a stand-in, not KFP: Argo's scheduling, the driver and the launcher are our reading of
the Go source (``engine``, ``driver``, ``launcher``; the versions' differences in
``backend``), ML Metadata is a JSON file; the object store is a real MinIO server
(``objectstore``).
"""
from kubeflow.replay.backend import DEFAULT_PIPELINE_ROOT, NEWEST, OLDEST, VERSIONS, backend
from kubeflow.replay.driver import (ReplayError, State, TaskRun, cache_key, driver_inputs,
                                    pipeline_parameters, provision_outputs, task_order)
from kubeflow.replay.engine import ReplayResult, last_error, replay, run_pipeline_root
from kubeflow.replay.launcher import _fill, image_mounts, mount, volume_mounts
from kubeflow.replay.objectstore import (Credentials, MinioServer, ObjectStore, ObjectStoreError,
                                         split_uri)

__all__ = ["DEFAULT_PIPELINE_ROOT", "NEWEST", "OLDEST", "VERSIONS", "backend", "ReplayError",
           "State", "TaskRun", "cache_key", "driver_inputs", "pipeline_parameters",
           "provision_outputs", "task_order", "ReplayResult", "last_error", "replay",
           "run_pipeline_root", "_fill", "image_mounts", "mount", "volume_mounts", "Credentials",
           "MinioServer", "ObjectStore", "ObjectStoreError", "split_uri"]
