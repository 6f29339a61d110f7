"""A task's pod, as far as its file system goes: a private mount namespace with a fresh root.

KFP's programs and the image's command expect fixed paths (the service account under
``/var/run/secrets``, ``/kfp-launcher/launch``, ``/minio/<bucket>/...``, ``/tmp/...``, the
image's WORKDIR ``/pipeline``). Each task runs under ``unshare --mount`` in a root that is a
tmpfs holding this machine's top-level folders bind-mounted (so programs, the venv and the
loopback network are the same) plus the task's own folders at those paths. Parallel tasks do
not see each other's, and nothing is written to the machine's own root; everything mounted
goes away with the process.

``python sandbox.py LAYOUT.json`` is the process inside the namespace:
it builds the root, chroots into it and executes the task's command.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Dict, List

# Replaced, never shared with the machine: /tmp and /run are per task, like a container's.
_FRESH = {"tmp", "run"}


def available() -> str:
    """Why tasks cannot get their own mount namespace here, or '' when they can."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is needed to give each task its own mount namespace"
    if os.geteuid() != 0:
        return "the real driver and launcher run each task in a mount namespace: run as root"
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.realpath(__file__)))))
    for what, path in (("the checkout", project), ("its Python", os.path.realpath(sys.prefix))):
        top = path.strip("/").split("/")[0]
        if top in _FRESH:
            return (f"{what} is under /{top}, which each task gets as its own folder: "
                    "run `replay --real` from a checkout and venv outside /tmp and /run")
    return ""


def command(layout: Dict, layout_path: str) -> List[str]:
    """The command that runs ``layout`` (see ``enter``) in a new mount namespace."""
    with open(layout_path, "w", encoding="utf-8") as f:
        json.dump(layout, f)
    # Run as a script: it needs only the standard library, not the package's imports.
    return ["unshare", "--mount", "--propagation", "private", sys.executable, "-I",
            os.path.abspath(__file__), layout_path]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _inside(root: str, path: str) -> str:
    """``path`` of the new root as a path here, following symlinks inside the new root (e.g.
    /var/run -> /run) so a mount never lands on the machine's own folder."""
    current = root
    for part in [p for p in path.split("/") if p]:
        candidate = os.path.join(current, part)
        for _ in range(16):
            if not os.path.islink(candidate):
                break
            target = os.readlink(candidate)
            candidate = (os.path.join(root, target.lstrip("/")) if target.startswith("/")
                         else os.path.join(os.path.dirname(candidate), target))
        current = os.path.normpath(candidate)
    return current


def _build_root(root: str, binds: Dict[str, str]) -> None:
    _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", root)
    # Top-level folders this machine lacks that hold a mount point are the task's own (e.g.
    # /pipeline, /minio), seen through this machine's symlinks (/var/run/secrets is in /run).
    tops = {top for top in (os.path.realpath(p).strip("/").split("/")[0] for p in binds)
            if not os.path.lexists(os.path.join("/", top))}
    for name in os.listdir("/"):
        here, there = os.path.join("/", name), os.path.join(root, name)
        if os.path.islink(here):
            os.symlink(os.readlink(here), there)
        elif os.path.isdir(here):
            os.mkdir(there)
            if name not in _FRESH and name not in tops:
                _mount("--rbind", here, there)
    for path in sorted(binds, key=len):
        target, source = _inside(root, path), binds[path]
        if os.path.relpath(target, root).split(os.sep)[0] not in tops | _FRESH:
            raise SystemExit(f"sandbox: {path} would be mounted over this machine's own folder")
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "a").close()
        _mount("--rbind", source, target)


def enter(layout: Dict) -> None:
    """Builds the task's root in the empty folder ``layout["root"]`` with ``layout["binds"]``
    ({path in the pod: path here}), then becomes ``layout["argv"]`` inside it, in
    ``layout["cwd"]`` with exactly ``layout["env"]``."""
    root = layout["root"]
    _build_root(root, layout["binds"])
    os.chroot(root)
    os.chdir(layout.get("cwd", "/"))
    os.execvpe(layout["argv"][0], layout["argv"], layout["env"])


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        enter(json.load(f))
