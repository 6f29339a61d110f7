"""The compiled spec: a real KFP v2 PipelineSpec that open-source Kubeflow accepts."""
from __future__ import annotations

import json
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
    return compiler.load(path)


def test_spec_parses_and_is_byte_stable(compiled):
    first, second = compiled
    with open(first, "rb") as a, open(second, "rb") as b:
        assert a.read() == b.read()
    spec = _spec(first)
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == "penguins"
    assert spec.default_pipeline_root == "gs://no-such-bucket-here/root"


def test_compiled_dag_is_the_local_pipeline_dag_after_a_data_fingerprint(compiled):
    local = factory.create_pipeline(config_lib.load(), 3)
    local_edges = {c.id: sorted(u.id for u in c.upstream_nodes) for c in local.components}
    local_edges["CsvExampleGen"] = [compiler.FINGERPRINT_TASK]
    local_edges[compiler.FINGERPRINT_TASK] = []
    local_edges["ServingBaseline"] = sorted(local_edges["ServingBaseline"] + [
        compiler.SERVING_STATE_TASK])
    local_edges[compiler.SERVING_STATE_TASK] = []
    assert compiler.dag_edges(_spec(compiled[0])) == local_edges


def test_example_gen_cache_key_carries_the_data_fingerprint(compiled):
    """Open-source KFP keys its cache on parameters and input artifact IDs only: the
    never-cached DataFingerprint task's output is what makes new data a cache miss."""
    spec = _spec(compiled[0])
    tasks = spec.root.dag.tasks
    assert not tasks[compiler.FINGERPRINT_TASK].caching_options.enable_cache
    assert tasks["CsvExampleGen"].caching_options.enable_cache
    source = tasks["CsvExampleGen"].inputs.parameters[compiler.FINGERPRINT_PARAM]
    assert source.task_output_parameter.producer_task == compiler.FINGERPRINT_TASK
    assert source.task_output_parameter.output_parameter_key == compiler.FINGERPRINT_PARAM
    assert (tasks[compiler.FINGERPRINT_TASK].inputs.parameters["data_root"]
            .component_input_parameter == "data_root")
    # TFX's own inputs spec for CsvExampleGen does not declare it: the entrypoint drops it.
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    args = executors["CsvExampleGen_executor"]["container"]["args"]
    inputs_spec = args[args.index("--json_serialized_inputs_spec_args") + 1]
    assert compiler.FINGERPRINT_PARAM not in inputs_spec


def test_only_the_tasks_that_need_the_state_volume_mount_it_and_pushes_go_into_it(compiled):
    """KFP starts independent tasks as parallel pods: a ReadWriteOnce claim in every task
    stalls them on Multi-Attach. The bundled data is in the image, so no data task mounts it."""
    cfg = config_lib.load()
    platform = compiler.load_platform(compiled[0])
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    mounting = {label: c["pvcMount"] for label, c in executors.items() if "pvcMount" in c}
    assert sorted(mounting) == ["Pusher_executor", "ServingBaseline_executor",
                                "ServingState_executor"]
    for label, config in mounting.items():
        assert config == [{"constant": cfg.kubeflow.state_volume,
                           "mountPath": cfg.kubeflow.state_dir}], label
    pusher = _spec(compiled[0]).root.dag.tasks["Pusher"].inputs.parameters["push_destination"]
    assert f'"{cfg.kubeflow.state_dir}/serving"' in pusher.runtime_value.constant.string_value


def test_a_data_root_on_the_volume_mounts_it_in_the_data_tasks_too():
    cfg = config_lib.load(overrides={"kubeflow.data_root": "/pipeline/state/data/penguins"})
    spec = compiler.build_spec(cfg)
    executors = compiler.platform_spec(cfg, spec)["platforms"]["kubernetes"]["deploymentSpec"][
        "executors"]
    assert sorted(l for l, c in executors.items() if "pvcMount" in c) == sorted(
        f"{t}_executor" for t in (
        "CsvExampleGen", "DataFingerprint", "DriftCheck", "Pusher", "ServingBaseline",
        "ServingState"))


def test_serving_baseline_is_keyed_on_the_never_cached_serving_state(compiled):
    """Otherwise a rollback or a recreated volume would reuse a stale baseline (and with it
    the Evaluator's and Pusher's results) whenever the data is unchanged."""
    spec = _spec(compiled[0])
    tasks = spec.root.dag.tasks
    assert not tasks[compiler.SERVING_STATE_TASK].caching_options.enable_cache
    source = tasks["ServingBaseline"].inputs.parameters[compiler.SERVING_STATE_PARAM]
    assert source.task_output_parameter.producer_task == compiler.SERVING_STATE_TASK
    assert source.task_output_parameter.output_parameter_key == compiler.SERVING_STATE_PARAM
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    args = executors["ServingState_executor"]["container"]["args"]
    assert args[args.index("--serving_dir") + 1] == config_lib.load().kubeflow.serving_dir


def test_every_tfx_task_names_its_declared_outputs_for_the_entrypoint(compiled):
    spec = _spec(compiled[0])
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    for name in factory.COMPONENT_IDS:
        args = executors[f"{name}_executor"]["container"]["args"]
        declared = json.loads(args[args.index(compiler.DECLARED_OUTPUTS_FLAG) + 1])
        assert declared == sorted(spec.components[name].output_definitions.artifacts), name
        assert "executor-logs" not in declared


def test_only_container_executors_with_the_image_our_entrypoint_and_no_hooks(compiled):
    executors = json_format.MessageToDict(_spec(compiled[0]).deployment_spec)["executors"]
    assert len(executors) == len(factory.COMPONENT_IDS) + 2  # and DataFingerprint, ServingState
    for label, executor in executors.items():
        assert set(executor) == {"container"}, label  # no resolver, importer or other kinds
        assert executor["container"]["image"] == "registry.test/pipe:1"
        assert "lifecycle" not in executor["container"]  # no preCacheCheck driver
        if label not in ("DataFingerprint_executor", "ServingState_executor"):
            assert executor["container"]["command"] == compiler.ENTRYPOINT, label
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
    ("kubeflow: {pipeline_root: /mnt/artifacts}\n",
     "kubeflow.pipeline_root: '/mnt/artifacts' is not object storage"),
    ("kubeflow: {serving_dir: /pipeline/serving}\n",
     "kubeflow.serving_dir: '/pipeline/serving' is not under kubeflow.state_dir"),
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


def test_compile_writes_only_the_spec_and_its_inference_service(tmp_path):
    """No module-file wheels or anything else: dotted-path user code needs no upload."""
    result = compile_in_process("--output", str(tmp_path / "spec.yaml"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.inferenceservice.yaml",
                                                          "spec.yaml"]


def test_a_local_pipeline_root_flag_is_refused_with_one_line(tmp_path):
    result = compile_in_process("--output", str(tmp_path / "spec.yaml"), "--pipeline-root",
                                str(tmp_path / "root"))
    assert result.exit_code == 1
    assert "--pipeline-root" in result.stderr and "is not object storage" in result.stderr
    assert not (tmp_path / "spec.yaml").exists() and not (tmp_path / "root").exists()
