"""The local Flink cluster behind the ``flink-local`` Beam profile.

Four kinds of process on 127.0.0.1, each started here and stopped by ``down``:
- Flink's JobManager (REST and web UI on :8081) and two TaskManagers, one slot each, from the
  distribution `make flink` installs (Flink's own bin/ scripts, as daemons);
- Beam's Flink job server (:8099), which turns the Beam pipelines that TFX submits into Flink
  jobs; its artifact folder is on this machine's disk, so the TaskManagers read what it stages;
- Beam's SDK worker pool (:50000) from this project's Python, the EXTERNAL environment the
  Flink jobs run their Python (TFX, TFDV, TFT, TFMA and our components) in. It is the same
  Python as the pipeline's, with the project installed, so dotted user-code paths import.
Configuration, logs, pids and the job server's artifacts live under ``<output_root>/flink``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, List, Optional

import yaml

FLINK_VERSION = "1.19.0"           # the Flink client Beam's Flink runner 2.62.0 is built with
JOB_SERVER = "beam-flink-job-server-2.62.0"
HOST = "127.0.0.1"
REST_PORT = 8081
JOB_PORT, ARTIFACT_PORT, EXPANSION_PORT = 8099, 8098, 8097
WORKER_POOL_PORT = 50000
TASK_MANAGERS = 2
DOWN_HINT = "run `make flink-up` (or `python -m pipeline flink up`) first"


class ClusterError(RuntimeError):
    """The cluster cannot be started, or is not running when a run needs it."""


def tools_dir() -> str:
    """Where `make flink` installs Flink and the job server (Makefile TOOLS_DIR)."""
    return os.environ.get("TFX_TOOLS_DIR") or os.path.expanduser("~/.cache/tfx-on-kubeflow")


@dataclass(frozen=True)
class Layout:
    """The cluster's folders: the installed tools and its state under the output root."""
    state: str

    @property
    def flink_home(self) -> str:
        return os.path.join(tools_dir(), f"flink-{FLINK_VERSION}")

    @property
    def job_server_dir(self) -> str:
        return os.path.join(tools_dir(), JOB_SERVER)

    @property
    def conf(self) -> str:
        return os.path.join(self.state, "conf")

    @property
    def log(self) -> str:
        return os.path.join(self.state, "log")

    @property
    def run(self) -> str:
        return os.path.join(self.state, "run")

    @property
    def artifacts(self) -> str:
        return os.path.join(self.state, "artifacts")


def layout(output_root: str) -> Layout:
    return Layout(state=os.path.join(os.path.abspath(output_root), "flink"))


def _current_file() -> str:
    """Names the state folder of the running cluster: one per machine, its ports are fixed."""
    return os.path.join(tools_dir(), "flink-cluster-state")


def current() -> Optional[Layout]:
    """The layout of the cluster ``up`` started last and ``down`` has not stopped."""
    try:
        with open(_current_file()) as f:
            return Layout(state=f.read().strip())
    except OSError:
        return None


def rest_url(path: str) -> str:
    return f"http://{HOST}:{REST_PORT}{path}"


def rest_get(path: str, timeout: float = 2.0) -> Dict:
    """A GET on Flink's REST API, as JSON."""
    with urllib.request.urlopen(rest_url(path), timeout=timeout) as r:
        return json.load(r)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def status() -> Dict[str, bool]:
    """Which of the cluster's services answer now."""
    return {"jobmanager": _port_open(REST_PORT), "taskmanagers": _taskmanagers() >= 1,
            "job server": _port_open(JOB_PORT), "worker pool": _port_open(WORKER_POOL_PORT)}


def require_up() -> None:
    """Raises ``ClusterError`` naming what is down and `make flink-up` unless all answer."""
    down = [name for name, ok in status().items() if not ok]
    if down:
        raise ClusterError(f"beam profile flink-local: the local Flink cluster is not up "
                           f"({', '.join(down)} not answering on {HOST}); {DOWN_HINT}")


def _java_opts(home: str) -> str:
    with open(os.path.join(home, "conf", "config.yaml")) as f:
        return yaml.safe_load(f)["env"]["java"]["opts"]["all"]


def write_conf(lay: Layout) -> None:
    """Flink's configuration for this cluster: loopback only, two one-slot TaskManagers."""
    home = lay.flink_home
    os.makedirs(lay.conf, exist_ok=True)
    for name in os.listdir(os.path.join(home, "conf")):
        if name.startswith("log4j"):
            shutil.copy(os.path.join(home, "conf", name), lay.conf)
    with open(os.path.join(home, "conf", "config.yaml")) as f:
        conf = yaml.safe_load(f)
    conf["jobmanager"].update({"bind-host": HOST, "rpc": {"address": HOST, "port": 6123},
                               "memory": {"process": {"size": "1024m"}}})
    # Beam's batch jobs shuffle through blocking partitions, each sort-shuffle one taking 512
    # network buffers by default; Transform's job has dozens at once in a slot.
    conf["taskmanager"].update({"bind-host": HOST, "host": HOST, "numberOfTaskSlots": 1,
                                "memory": {"process": {"size": "2560m"},
                                           "network": {"min": "384m", "max": "384m"},
                                           # Beam's gRPC data channels to the SDK workers
                                           # buffer off-heap: 1M rows overran the default.
                                           "task": {"off-heap": {"size": "512m"}}},
                                "network": {"sort-shuffle": {"min-buffers": 32}}})
    conf["parallelism"] = {"default": TASK_MANAGERS}
    conf["rest"] = {"address": HOST, "bind-address": HOST, "port": REST_PORT}
    conf["io"] = {"tmp": {"dirs": os.path.join(lay.state, "tmp")}}
    with open(os.path.join(lay.conf, "config.yaml"), "w") as f:
        yaml.safe_dump(conf, f)


def _env(lay: Layout) -> Dict[str, str]:
    return {**os.environ, "FLINK_CONF_DIR": lay.conf, "FLINK_LOG_DIR": lay.log,
            "FLINK_PID_DIR": lay.run}


def _flink(lay: Layout, script: str, *args: str) -> None:
    cmd = [os.path.join(lay.flink_home, "bin", script), *args]
    done = subprocess.run(cmd, env=_env(lay), capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()}")


def _spawn(lay: Layout, name: str, cmd: List[str]) -> int:
    """Starts ``cmd`` detached, output in ``log/<name>.log``, pid in ``run/<name>.pid``."""
    # The worker pool starts each SDK worker as `python ...` found on PATH: this Python's.
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    with open(os.path.join(lay.log, f"{name}.log"), "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                cwd=lay.state, env={**os.environ, "PATH": path,
                                                    "PYTHONWARNINGS": "ignore"})
    with open(os.path.join(lay.run, f"{name}.pid"), "w") as f:
        f.write(str(proc.pid))
    return proc.pid


def _wait(what: str, ready, lay: Layout, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} did not come up within {timeout:.0f} s; see {lay.log}")
        time.sleep(0.5)


def _taskmanagers() -> int:
    try:
        return rest_get("/overview").get("taskmanagers", 0)
    except (OSError, ValueError):
        return 0


def up(output_root: str) -> Layout:
    """Starts the cluster (nothing if it already answers); its layout."""
    lay = layout(output_root)
    for path, target in ((lay.flink_home, "flink"), (lay.job_server_dir, "flink")):
        if not os.path.exists(os.path.join(path, ".installed")):
            raise ClusterError(f"{path} is not installed; run `make {target}` first")
    if all(status().values()):
        return lay
    for port in (REST_PORT, JOB_PORT, WORKER_POOL_PORT):
        if _port_open(port):
            raise ClusterError(f"port {HOST}:{port} is in use by another process; "
                               "`make flink-down` stops a cluster this project started")
    for path in (lay.log, lay.run, lay.artifacts):
        os.makedirs(path, exist_ok=True)
    write_conf(lay)
    _flink(lay, "jobmanager.sh", "start")
    for _ in range(TASK_MANAGERS):
        _flink(lay, "taskmanager.sh", "start")
    _spawn(lay, "worker-pool", [sys.executable, "-m", "pipeline.flink.worker_pool",
                                f"--service_port={WORKER_POOL_PORT}"])
    _spawn(lay, "job-server", [
        "java", *_java_opts(lay.flink_home).split(), "-cp",
        os.path.join(lay.job_server_dir, "*"), "org.apache.beam.runners.flink.FlinkJobServerDriver",
        f"--flink-master={HOST}:{REST_PORT}", f"--job-host={HOST}", f"--job-port={JOB_PORT}",
        f"--artifact-port={ARTIFACT_PORT}", f"--expansion-port={EXPANSION_PORT}",
        f"--artifacts-dir={lay.artifacts}", f"--flink-conf-dir={lay.conf}"])
    _wait("Flink's TaskManagers", lambda: _taskmanagers() >= TASK_MANAGERS, lay)
    _wait("Beam's job server", lambda: _port_open(JOB_PORT), lay)
    _wait("Beam's SDK worker pool", lambda: _port_open(WORKER_POOL_PORT), lay)
    with open(_current_file(), "w") as f:
        f.write(lay.state)
    return lay


def _kill(pid_file: str) -> Optional[int]:
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    try:
        os.killpg(pid, signal.SIGTERM)  # the pool's workers are in its process group
    except ProcessLookupError:
        pid = None
    os.remove(pid_file)
    return pid


def down() -> Optional[Layout]:
    """Stops what ``up`` started, wherever its output root was; None if nothing was up."""
    lay = current()
    if lay is None:
        return None
    for name in ("job-server", "worker-pool"):
        _kill(os.path.join(lay.run, f"{name}.pid"))
    if os.path.isdir(lay.conf):
        _flink(lay, "taskmanager.sh", "stop-all")
        _flink(lay, "jobmanager.sh", "stop-all")
    deadline = time.monotonic() + 30
    while any(_port_open(p) for p in (REST_PORT, JOB_PORT, WORKER_POOL_PORT)):
        if time.monotonic() > deadline:
            raise ClusterError(f"the cluster under {lay.state} did not stop within 30 s")
        time.sleep(0.5)
    os.remove(_current_file())
    return lay


def finished_jobs() -> List[Dict]:
    """The jobs Flink's REST API lists (``/jobs/overview``), newest first."""
    return sorted(rest_get("/jobs/overview")["jobs"], key=lambda j: -j["start-time"])
