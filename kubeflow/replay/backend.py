"""What each open-source KFP version's driver and launcher do differently, as the replay plays it.

Read in kubeflow/pipelines ``backend/src/v2`` at tags 2.2.0, 2.5.0, 2.14.0, 2.15.0 and 2.17.0
(``driver/``, ``metadata/client.go``, ``component/launcher_v2.go``, ``cacheutils/cache.go``,
``objectstore/object_store.go``, ``config/env.go``). Behaviours that every one of them shares
are not listed: the run's root is ``runtimeConfig.pipelineRoot`` (else the ``kfp-launcher``
ConfigMap's ``defaultPipelineRoot``, else ``minio://mlpipeline/v2/artifacts``; the spec's
``defaultPipelineRoot`` is never read) joined with ``<pipelineName>/<runID>``; cache hits are
looked up by fingerprint, pipeline name and namespace; input artifacts come back from ML
Metadata with an empty type schema.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

# config/env.go: the root when neither the run nor the kfp-launcher ConfigMap names one.
DEFAULT_PIPELINE_ROOT = "minio://mlpipeline/v2/artifacts"
EXECUTOR_LOGS = "executor-logs"


@dataclass(frozen=True)
class Backend:
    """One KFP version's behaviours, each named for what it changes."""
    version: str
    # provisionOutputs: <run root>/<task>/<uuid>/<output> (2.5+) instead of <task>/<output>.
    output_uri_salt: bool
    # provisionOutputs adds an ``executor-logs`` output (system.Artifact) to every container
    # task while log publishing is on, which it is by default (PUBLISH_LOGS "true").
    executor_logs: bool
    # The executor output file is <local task root>/output_metadata.json (2.15+), not
    # /tmp/kfp_outputs/output_metadata.json; output artifacts carry their name.
    output_file_in_task_root: bool
    # GenerateCacheKey also hashes the task's PVC names (2.15+).
    cache_key_pvc_names: bool
    # DownloadBlob skips keys that share the prefix but are not under it (2.17+), so
    # ``.../model`` no longer also fetches ``.../model_run``.
    strict_download_prefix: bool


VERSIONS: Dict[str, Backend] = {
    "2.2": Backend("2.2", False, False, False, False, False),
    "2.5": Backend("2.5", True, True, False, False, False),
    "2.15": Backend("2.15", True, True, True, True, False),
    "2.17": Backend("2.17", True, True, True, True, True),
}
NEWEST = "2.17"
OLDEST = "2.2"


def backend(version: str) -> Backend:
    """The behaviours of KFP ``version`` (e.g. ``2.17``, ``2.14.0``): those of the newest
    version above that is not newer; versions before 2.2 are refused (not read)."""
    try:
        wanted = tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        wanted = ()
    known = [v for v in VERSIONS if tuple(int(p) for p in v.split(".")) <= wanted]
    if len(wanted) != 2 or wanted[0] != 2 or not known:
        raise ValueError(f"--kfp-version: {version!r} is not a KFP 2.x version the replay "
                         f"plays ({', '.join(VERSIONS)}, or a version between them)")
    return VERSIONS[max(known, key=lambda v: tuple(int(p) for p in v.split(".")))]
