"""The pipeline image definition agrees with what the spec and the replay assume.

No Docker engine runs here, so the image is not built in tests; these checks catch the
drift that would otherwise only show on a cluster.
"""
import os
import re

from kubeflow.replay import launcher as replay
from pipeline import config as config_lib
from tests.conftest import ROOT

DOCKERFILE = open(os.path.join(ROOT, "kubeflow", "Dockerfile")).read()


def test_image_sets_the_environment_the_replay_uses():
    env = dict(re.findall(r"(\w+)=(\S+)", DOCKERFILE.split("ENV", 1)[1].split("\n\n")[0]))
    assert env == replay.IMAGE_ENV


def test_image_holds_the_project_where_the_spec_expects_it():
    cfg = config_lib.load()
    assert f"WORKDIR {cfg.kubeflow.project_dir}" in DOCKERFILE
    assert cfg.kubeflow.data_root.startswith(cfg.kubeflow.project_dir)
    assert re.search(r"^FROM tensorflow/tfx:1\.16\.0$", DOCKERFILE, re.M)


def test_image_copies_every_installed_package_and_the_schema():
    setup = open(os.path.join(ROOT, "setup.py")).read()
    packages = re.findall(r'"(\w+)"', setup.split("include=", 1)[1].split(")", 1)[0])
    for folder in set(packages) | {"schema", "data"}:
        assert f"COPY {folder}/ {folder}/" in DOCKERFILE, folder
