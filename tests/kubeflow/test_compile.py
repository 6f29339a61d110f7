"""The compiled spec: a real KFP v2 PipelineSpec that open-source Kubeflow accepts."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import compile as compiler
from pipeline import config as config_lib
from pipeline import factory
from tests.conftest import ROOT

SECRET = "SECRET-compile-7f3a"


def compile_cli(*args: str, env_extra=None) -> subprocess.CompletedProcess:
    """A separate process, as a user runs it (and so byte-stability spans processes)."""
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "pipeline", "compile", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=env)


def compile_in_process(*args: str):
    """The same command in this process: cheaper for the many small cases."""
    from pipeline.cli import main

    return CliRunner().invoke(main, ["compile", *args])


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("spec")
    first, second = str(out / "a.yaml"), str(out / "b.yaml")
    secrets = {"KFP_BEARER_TOKEN": SECRET, "KFP_COOKIE": f"authservice_session={SECRET}",
               "AWS_SECRET_ACCESS_KEY": SECRET}
    for path in (first, second):
        result = compile_cli("--output", path, "--image", "registry.test/pipe:1",
                             "--pipeline-root", "gs://no-such-bucket-here/root", env_extra=secrets)
        assert result.returncode == 0, result.stderr
    return first, second


def _spec(path: str) -> pipeline_spec_pb2.PipelineSpec:
    with open(path) as f:
        return json_format.ParseDict(yaml.safe_load(f), pipeline_spec_pb2.PipelineSpec())


def test_spec_parses_and_is_byte_stable(compiled):
    first, second = compiled
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()
    spec = _spec(first)
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == "penguins"
    assert spec.default_pipeline_root == "gs://no-such-bucket-here/root"


def test_compiled_dag_equals_the_local_pipeline_dag(compiled):
    local = factory.create_pipeline(config_lib.load(), 3)
    local_edges = {c.id: sorted(u.id for u in c.upstream_nodes) for c in local.components}
    assert compiler.dag_edges(_spec(compiled[0])) == local_edges


def test_only_container_executors_with_the_image_and_no_hooks(compiled):
    executors = json_format.MessageToDict(_spec(compiled[0]).deployment_spec)["executors"]
    assert len(executors) == len(factory.COMPONENT_IDS)
    for label, executor in executors.items():
        assert set(executor) == {"container"}, label  # no resolver, importer or other kinds
        assert executor["container"]["image"] == "registry.test/pipe:1"
        assert "lifecycle" not in executor["container"]  # no preCacheCheck driver
    trainer = executors["Trainer_executor"]["container"]
    assert trainer["resources"] == {"cpuRequest": 2.0, "memoryRequest": 4.0}
    assert "--direct_running_mode=in_memory" in trainer["args"]


def test_runtime_parameters_have_defaults(compiled):
    parameters = _spec(compiled[0]).root.input_definitions.parameters
    assert set(parameters) == {compiler.DATA_ROOT_PARAM, compiler.TRAIN_STEPS_PARAM}
    assert parameters["train_steps"].default_value.number_value == 300
    assert parameters["data_root"].default_value.string_value == "/pipeline/data/penguins"
    tasks = _spec(compiled[0]).root.dag.tasks
    assert tasks["CsvExampleGen"].inputs.parameters["input_base"].component_input_parameter == "data_root"
    assert tasks["Trainer"].inputs.parameters["train_steps"].component_input_parameter == "train_steps"


def test_no_secret_from_the_environment_in_the_spec(compiled):
    for path in compiled:
        with open(path) as f:
            assert SECRET not in f.read()


def test_per_component_image_and_beam_profile(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"data: {{root: {ROOT}/data/penguins}}\nschema: {ROOT}/schema/schema.pbtxt\n"
                   "kubeflow: {images: {Trainer: registry.test/trainer-gpu:2}}\n")
    out = tmp_path / "spec.yaml"
    result = compile_in_process("--config", str(cfg), "--output", str(out), "--beam-profile", "flink")
    assert result.exit_code == 0, result.stderr
    executors = json_format.MessageToDict(_spec(str(out)).deployment_spec)["executors"]
    assert executors["Trainer_executor"]["container"]["image"] == "registry.test/trainer-gpu:2"
    assert executors["Pusher_executor"]["container"]["image"] != "registry.test/trainer-gpu:2"
    assert "--runner=FlinkRunner" in executors["Transform_executor"]["container"]["args"]


@pytest.mark.parametrize("config_text, named", [
    ("pipeline_name: Penguins_V2\n", "pipeline_name: 'Penguins_V2' is not a valid Kubeflow name"),
    ("kubeflow: {images: {Trainerr: x}}\n", "kubeflow.images: 'Trainerr' is not a component id"),
    ("kubeflow: {resources: {Trainer: {memory: lots}}}\n", "kubeflow.resources.Trainer.memory: 'lots'"),
    ("kubeflow: {beam_profile: yarn}\n", "kubeflow.beam_profile: 'yarn' is not one of beam.profiles"),
])
def test_bad_settings_fail_at_compile_time_with_one_line(tmp_path, config_text, named):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"schema: {ROOT}/schema/schema.pbtxt\n" + config_text)
    result = compile_in_process("--config", str(cfg), "--output", str(tmp_path / "x.yaml"))
    assert result.exit_code == 1
    errors = [l for l in result.stderr.splitlines() if l.startswith("Error:")]
    assert len(errors) == 1 and named in errors[0], result.stderr
    assert not (tmp_path / "x.yaml").exists()


def test_committed_spec_is_up_to_date(tmp_path):
    """kubeflow/pipeline.yaml is reviewed in diffs; it must be what compile makes now."""
    out = tmp_path / "now.yaml"
    assert compile_in_process("--output", str(out)).exit_code == 0
    with open(os.path.join(ROOT, "kubeflow", "pipeline.yaml")) as committed:
        assert committed.read() == out.read_text(), "run `python -m pipeline compile` and commit"


def test_compile_writes_nothing_under_the_pipeline_root(tmp_path):
    """No module-file wheels or anything else: dotted-path user code needs no upload."""
    root = tmp_path / "root"
    result = compile_in_process("--output", str(tmp_path / "spec.yaml"), "--pipeline-root", str(root))
    assert result.exit_code == 0, result.output
    assert not root.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]
