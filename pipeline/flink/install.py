"""Installs a Flink distribution from PyPI's source distributions (stdlib only; `make flink`).

apache-flink and apache-flink-libraries carry the distribution under ``deps/``: bin/ and conf/
in the first, lib/, opt/ and plugins/ in the second. Only those files are taken, checked
against PyPI's sha256; nothing is pip-installed (apache-flink pins an older Beam), and no
sdist is built (pip download would run its setup, which fails for some versions).

Usage: python pipeline/flink/install.py DEST VERSION
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request

PACKAGES = {"apache-flink": ("bin", "conf"),
            "apache-flink-libraries": ("bin", "lib", "opt", "plugins", "licenses")}


def _sdist(package: str, version: str, folder: str) -> str:
    """Downloads ``package==version``'s source distribution into ``folder``; its path."""
    request = urllib.request.Request(f"https://pypi.org/simple/{package}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request) as r:
        files = json.load(r)["files"]
    name = f"{package}-{version}.tar.gz"
    sdist = next((f for f in files if f["filename"].replace("_", "-") == name), None)
    if sdist is None:
        sys.exit(f"install.py: PyPI has no source distribution of {package}=={version}")
    path = os.path.join(folder, sdist["filename"])
    digest = hashlib.sha256()
    with urllib.request.urlopen(sdist["url"]) as r, open(path, "wb") as out:
        for block in iter(lambda: r.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != sdist["hashes"]["sha256"]:
        sys.exit(f"install.py: {sdist['filename']}: sha256 does not match PyPI's")
    return path


def install(dest: str, version: str) -> None:
    """Lays the distribution out in ``dest`` (replaced whole, so a failed install leaves none)."""
    partial = dest + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    with tempfile.TemporaryDirectory() as work:
        for package, parts in PACKAGES.items():
            with tarfile.open(_sdist(package, version, work)) as tar:
                tar.extractall(work, filter="data")
            deps = os.path.join(work, f"{package.replace('-', '_')}-{version}", "deps")
            if not os.path.isdir(deps):
                deps = os.path.join(work, f"{package}-{version}", "deps")
            for part in parts:
                shutil.copytree(os.path.join(deps, part), os.path.join(partial, part),
                                dirs_exist_ok=True)
    for name in os.listdir(os.path.join(partial, "bin")):
        os.chmod(os.path.join(partial, "bin", name), 0o755)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(partial, dest)


if __name__ == "__main__":
    install(sys.argv[1], sys.argv[2])
