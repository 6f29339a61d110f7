"""`replay` runs the compiled spec itself, task by task, the way the KFP launcher would."""
from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from kubeflow import replay as replayer
from tests.conftest import DATA, ROOT

pytestmark = pytest.mark.e2e


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=1200)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("spec") / "pipeline.yaml")
    assert cli("compile", "--output", path, "--pipeline-root", "minio://mlpipeline/x").returncode == 0
    return path


def _spec_dict(path):
    with open(path) as f:
        return yaml.safe_load(f)


def _write(tmp_path, data) -> str:
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_replay_of_the_compiled_spec_ends_with_a_blessed_pushed_model(spec_file, tmp_path):
    root = tmp_path / "root"
    result = cli("replay", spec_file, "--root", str(root), "--param", "train_steps=30",
                 "--param", f"data_root={DATA}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all tasks succeeded" in result.stdout
    assert "Model: blessed, pushed as version 1" in result.stdout
    serving = root / "serving" / "1"
    assert (serving / "saved_model.pb").exists()
    # Artifacts go where the KFP launcher puts them: <root>/<pipeline>/<run>/<task>/<output>.
    (run_dir,) = [d for d in (root / "penguins").iterdir() if d.name.startswith("replay-")]
    # Our executor resolved {SPAN} with no driver, as on open-source KFP: the latest span.
    import json
    with open(run_dir / "CsvExampleGen" / "executor_output.json") as f:
        examples = json.load(f)["artifacts"]["examples"]["artifacts"][0]
    assert examples["metadata"]["span"] == 3
    assert examples["metadata"]["input_fingerprint"].startswith("split:single_split")
    with open(run_dir / "Evaluator" / "executor_output.json") as f:
        blessing = json.load(f)["artifacts"]["blessing"]["artifacts"][0]
    assert blessing["metadata"]["blessed"] == 1
    # The reviewer report is produced as the artifact types the KFP UI renders.
    spec = _spec_dict(spec_file)
    report_outputs = spec["components"]["Report"]["outputDefinitions"]["artifacts"]
    # The KFP launcher records an instanceSchema's title as the MLMD type the UI renders.
    titles = {k: yaml.safe_load(v["artifactType"]["instanceSchema"])["title"]
              for k, v in report_outputs.items()}
    assert sorted(titles.values()) == ["system.HTML", "system.Markdown"]
    # The KFP UI shows the file at the artifact's URI itself.
    assert "<html" in (run_dir / "Report" / "html").read_text().lower()
    assert (run_dir / "Report" / "markdown").read_text().strip()
    # The Trainer got the runtime parameter, not the compiled default (300).
    with open(run_dir / "Trainer" / "log.txt") as f:
        assert '"num_steps": 30' in f.read().replace("\\", "")


def test_an_unimportable_dotted_path_fails_at_its_task_with_one_line(spec_file, tmp_path):
    data = _spec_dict(spec_file)
    args = data["deploymentSpec"]["executors"]["CsvExampleGen_executor"]["container"]["args"]
    args[args.index("--executor_class_path") + 1] = "components.no_such_module.Executor"
    result = cli("replay", _write(tmp_path, data), "--root", str(tmp_path / "root"))
    assert result.returncode == 1
    failure = [l for l in result.stdout.splitlines() if "✘ CsvExampleGen" in l]
    assert len(failure) == 1 and "components.no_such_module.Executor" in failure[0]
    assert "StatisticsGen     not run" in result.stdout


def _proto(data) -> pipeline_spec_pb2.PipelineSpec:
    return json_format.ParseDict(data, pipeline_spec_pb2.PipelineSpec())


def test_a_missing_dependency_between_tasks_is_caught(spec_file):
    data = _spec_dict(spec_file)
    stats = data["root"]["dag"]["tasks"]["StatisticsGen"]
    stats["inputs"]["artifacts"]["examples"]["taskOutputArtifact"]["producerTask"] = "NoSuchTask"
    with pytest.raises(replayer.ReplayError, match="NoSuchTask"):
        replayer.task_order(_proto(data))


def test_cycles_unknown_parameters_and_placeholders_are_errors(spec_file):
    data = _spec_dict(spec_file)
    cyclic = copy.deepcopy(data)
    cyclic["root"]["dag"]["tasks"]["CsvExampleGen"]["dependentTasks"] = ["Pusher"]
    with pytest.raises(replayer.ReplayError, match="depend on each other"):
        replayer.task_order(_proto(cyclic))
    with pytest.raises(replayer.ReplayError, match="unknown runtime parameter 'epochs'"):
        replayer.pipeline_parameters(_proto(data), {"epochs": "3"})
    with pytest.raises(replayer.ReplayError, match="not supported by the replay"):
        replayer._fill("{{$.pipeline_job_resource_name}}", {}, "T")
    assert replayer.pipeline_parameters(_proto(data), {"train_steps": "12"})["train_steps"] == 12


def test_mounts_map_image_paths_to_local_folders():
    mounts = {"/pipeline": "/src", "/pipeline/serving": "/out/serving"}
    assert replayer.mount('{"base_directory": "/pipeline/serving"}', mounts) == \
        '{"base_directory": "/out/serving"}'
    assert replayer.mount("/pipeline/schema/schema.pbtxt", mounts) == "/src/schema/schema.pbtxt"
    assert replayer.mount("/pipelines-other", mounts) == "/pipelines-other"
