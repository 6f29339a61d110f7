"""Where ``make kfp-backend`` puts the open-source backend's ``driver`` and ``launcher-v2``, and
how each version's driver is called (its flags differ)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List

from kubeflow.replay.driver import ReplayError
from kubeflow.replay.objectstore import TOOLS_DIR


@dataclass(frozen=True)
class KfpVersion:
    tag: str  # the commit each tag is built at is in the Makefile (KFP_BACKENDS)
    # 2.5.0's driver has none of --task_name, --pipeline_job_create_time_utc,
    # --ml_pipeline_server_address/_port (it finds the API server through the
    # ML_PIPELINE_SERVICE_HOST/_PORT_GRPC variables a Kubernetes service sets).
    newer_driver_flags: bool

    @property
    def folder(self) -> str:
        return os.path.join(TOOLS_DIR, f"kfp-{self.tag}")

    @property
    def driver(self) -> str:
        return os.path.join(self.folder, "driver")

    @property
    def launcher(self) -> str:
        return os.path.join(self.folder, "launcher-v2")


VERSIONS = {"2.17": KfpVersion("2.17.0", True), "2.5": KfpVersion("2.5.0", False)}
NEWEST = "2.17"


def kfp_version(version: str) -> KfpVersion:
    """The built backend of ``version`` (2.5 or 2.17, with or without the patch number)."""
    key = ".".join(version.split(".")[:2])
    if key not in VERSIONS:
        raise ReplayError(f"--real runs the driver and launcher of KFP "
                          f"{' or '.join(v.tag for v in VERSIONS.values())}, not {version}")
    chosen = VERSIONS[key]
    for program in (chosen.driver, chosen.launcher):
        if not os.access(program, os.X_OK):
            raise ReplayError(f"KFP {chosen.tag}'s {os.path.basename(program)} is not built "
                              f"({program}): run `make kfp-backend`")
    return chosen


def driver_flags(version: KfpVersion, task_name: str, created: str, api_port: int) -> List[str]:
    """The flags only the newer drivers take (an unknown flag stops a Go program)."""
    if not version.newer_driver_flags:
        return []
    return ["--task_name", task_name, "--pipeline_job_create_time_utc", created,
            "--ml_pipeline_server_address", "127.0.0.1", "--ml_pipeline_server_port", str(api_port)]
