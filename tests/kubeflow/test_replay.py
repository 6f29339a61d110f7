"""`replay`, the local stand-in for open-source KFP's driver and launcher, runs the compiled spec.

The e2e tests here replay the committed kind of spec (compiled with the default ``minio://``
root) against a real MinIO server the way the OSS backend runs it, under the newest (2.17)
and the oldest (2.2) backend behaviours, and show each failure that stock TFX meets there:
the same spec with TFX's own entry point or without the DataFingerprint task fails, or goes
stale, exactly where a cluster would.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from typing import Iterable, Optional

import pytest
import yaml

from kubeflow import compile as compiler
from kubeflow import replay as replayer
from tests.conftest import DATA, ROOT

STOCK_ENTRYPOINT = ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]


@pytest.fixture
def cli(minio):
    """`python -m pipeline ...` with the session's MinIO as the replay's object store."""
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=1200,
                              env={**os.environ, **minio.env()})
    return run


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("spec") / "pipeline.yaml")
    compiled = subprocess.run([sys.executable, "-m", "pipeline", "compile", "--output", path],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert compiled.returncode == 0, compiled.stderr
    return path


def variant(spec_path: str, out: str, *, keep: Optional[Iterable[str]] = None,
            stock: Iterable[str] = (), without_fingerprint: bool = False) -> str:
    """The spec with only the ``keep`` tasks, TFX's own entry point for the ``stock`` tasks,
    or CsvExampleGen as TFX compiles it (no DataFingerprint input)."""
    with open(spec_path) as f:
        spec, platform = yaml.safe_load_all(f)
    tasks = spec["root"]["dag"]["tasks"]
    if without_fingerprint:
        del tasks[compiler.FINGERPRINT_TASK]
        del tasks["CsvExampleGen"]["inputs"]["parameters"][compiler.FINGERPRINT_PARAM]
        del tasks["CsvExampleGen"]["dependentTasks"]
    if keep is not None:
        spec["root"]["dag"]["tasks"] = {k: v for k, v in tasks.items() if k in set(keep)}
    for name in stock:
        spec["deploymentSpec"]["executors"][f"{name}_executor"]["container"]["command"] = \
            STOCK_ENTRYPOINT
    with open(out, "w") as f:
        yaml.safe_dump_all([spec, platform], f)
    return out


def executor_output(root, run_id: str, task: str) -> dict:
    with open(os.path.join(root, "runs", run_id, task, "executor_output.json")) as f:
        return json.load(f)


def output_metadata(root, run_id: str, task: str, key: str) -> dict:
    return executor_output(root, run_id, task)["artifacts"][key]["artifacts"][0]["metadata"]


def run_id_of(stdout: str) -> str:
    return next(line.split()[1].rstrip(":") for line in stdout.splitlines()
                if line.startswith("Replay replay-"))


def spans_dir(tmp_path, *spans: int) -> str:
    data = tmp_path / "data"
    for span in spans:
        shutil.copytree(os.path.join(DATA, f"span-{span}"), data / f"span-{span}")
    return str(data)


def statuses(stdout: str) -> dict:
    """{task: status} from the replay's summary table."""
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines()
            if line.startswith("  ") and len(line.split()) >= 3 and line.split()[0][0].isupper()
            and line.split()[1] in ("ok", "cached", "not", "exit")}


@pytest.mark.e2e
@pytest.mark.parametrize("kfp_version", [replayer.NEWEST, replayer.OLDEST])
def test_two_replays_across_a_new_span_push_two_versions_the_second_against_the_first(
        spec_file, tmp_path, cli, object_store, kfp_version):
    """Under the newest backend: three replays (train, a new span, nothing new). Under the
    oldest: the first, whose artifact layout and logs differ by version."""
    root = tmp_path / "root"
    data = spans_dir(tmp_path, 1, 2)
    args = ("replay", spec_file, "--root", str(root), "--kfp-version", kfp_version,
            "--param", "train_steps=30", "--param", f"data_root={data}")
    first = cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "all tasks succeeded" in first.stdout
    assert "Model: blessed, pushed as version 1" in first.stdout
    run1 = run_id_of(first.stdout)
    examples = output_metadata(root, run1, "CsvExampleGen", "examples")
    assert examples["span"] == 2 and examples["spans"] == "2"
    # The root travels with the run (as submit sends it); the backend adds <pipeline>/<run>,
    # and from 2.5 a fresh UUID per task. The executor output reports the remote URIs.
    spec = compiler.load(spec_file)
    run_root = f"{spec.default_pipeline_root}/{spec.pipeline_info.name}/{run1}"
    uri = executor_output(root, run1, "CsvExampleGen")["artifacts"]["examples"]["artifacts"][0]["uri"]
    if kfp_version == replayer.OLDEST:
        assert uri == f"{run_root}/CsvExampleGen/examples"
    else:
        assert uri.startswith(f"{run_root}/CsvExampleGen/") and uri.endswith("/examples")
        assert len(uri.split("/")) == len(run_root.split("/")) + 3  # <task>/<uuid>/<output>
    assert object_store.list(uri + "/Split-train/")  # written through the mirror, then uploaded
    # From 2.5 the launcher uploads each task's log as its executor-logs output; TFX never
    # sees that output, so every task still succeeded.
    logs = [k for k in object_store.list(run_root + "/") if k.endswith("/executor-logs")]
    if kfp_version == replayer.OLDEST:
        assert logs == []
    else:
        assert len(logs) == len(spec.root.dag.tasks)
        trainer_log = next(k for k in logs if "/Trainer/" in k)
        assert b"num_steps" in object_store.get(f"minio://{split_bucket(run_root)}/{trainer_log}")
    assert output_metadata(root, run1, "ServingBaseline", "baseline_model")["has_model"] == 0
    # The pushed version lives on the state volume, which outlives every pod.
    volume = root / "volumes" / "tfx-pipeline-state"
    assert (volume / "serving" / "1" / "saved_model.pb").exists()
    # The reviewer report is produced as the artifact types the KFP UI renders, at its URI.
    titles = {k: yaml.safe_load(v.artifact_type.instance_schema)["title"]
              for k, v in spec.components["Report"].output_definitions.artifacts.items()}
    assert sorted(titles.values()) == ["system.HTML", "system.Markdown"]
    report = executor_output(root, run1, "Report")["artifacts"]["html"]["artifacts"][0]["uri"]
    assert b"<html" in object_store.get(report).lower()
    # The Trainer got the runtime parameter, not the compiled default (300).
    with open(root / "runs" / run1 / "Trainer" / "log.txt") as f:
        assert '"num_steps": 30' in f.read().replace("\\", "")
    if kfp_version != replayer.NEWEST:
        # What differs by version is the first replay's layout (above); a landing span takes
        # the same path through both, so it is played once, under the newest (about 80 s).
        return

    shutil.copytree(os.path.join(DATA, "span-3"), os.path.join(data, "span-3"))  # a span lands
    second = cli(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    run2 = run_id_of(second.stdout)
    status = statuses(second.stdout)
    assert status["ImportSchemaGen"] == "cached"  # same schema file: the OSS cache answers
    assert status["DataFingerprint"] == status["CsvExampleGen"] == status["Trainer"] == "ok"
    assert output_metadata(root, run2, "CsvExampleGen", "examples")["span"] == 3
    baseline = output_metadata(root, run2, "ServingBaseline", "baseline_model")
    assert baseline["has_model"] == 1 and baseline["serving_version"] == 1
    with open(root / "runs" / run2 / "ServingState" / "log.txt") as f:
        assert "serving_state: version 1: " in f.read()  # ServingBaseline's cache key
    blessing = output_metadata(root, run2, "Evaluator", "blessing")
    assert blessing["blessed"] == 1
    run2_root = f"{spec.default_pipeline_root}/{spec.pipeline_info.name}/{run2}"
    assert blessing["baseline_model"].startswith(f"{run2_root}/ServingBaseline/")
    assert "Model: blessed, pushed as version 2" in second.stdout
    assert sorted(os.listdir(volume / "serving")) == ["1", "2"]
    # Uploads come from a local file system: no zero-byte "dir/" marker keys anywhere.
    keys = object_store.list(run_root + "/") + object_store.list(run2_root + "/")
    assert len(keys) > 50 and not [k for k in keys if k.endswith("/")]

    third = cli(*args)  # nothing new
    assert third.returncode == 0, third.stdout + third.stderr
    status = statuses(third.stdout)
    assert all(status[t] == "cached" for t in ("ImportSchemaGen", "CsvExampleGen", "StatisticsGen",
                                               "Transform", "Trainer")), status
    # The model serving changed (version 2), so the baseline is taken again; the Trainer's
    # candidate is that same model, so nothing is pushed.
    assert status["ServingState"] == status["ServingBaseline"] == "ok"
    assert "Model: not pushed" in third.stdout
    assert sorted(os.listdir(volume / "serving")) == ["1", "2"]


def split_bucket(uri: str) -> str:
    return replayer.split_uri(uri)[1]


@pytest.mark.e2e
def test_stock_tfx_entrypoint_fails_on_the_empty_input_type_schema(spec_file, tmp_path, cli):
    """tensorflow/tfx#7768: every task with an upstream input fails this way on OSS KFP."""
    spec = variant(spec_file, str(tmp_path / "v.yaml"), stock=["StatisticsGen"],
                   keep=[compiler.FINGERPRINT_TASK, "CsvExampleGen", "StatisticsGen"])
    result = cli("replay", spec, "--root", str(tmp_path / "root"), "--param", f"data_root={DATA}",
                 "--kfp-version", replayer.OLDEST)
    assert result.returncode == 1
    (failure,) = [l for l in result.stdout.splitlines() if "✘" in l]
    assert "StatisticsGen" in failure
    assert "AttributeError: 'NoneType' object has no attribute 'get'" in failure
    assert "CsvExampleGen     ok" in result.stdout  # through our entry point


@pytest.mark.e2e
@pytest.mark.parametrize("kfp_version,error", [
    (replayer.OLDEST, "File system scheme 'minio' not implemented"),
    (replayer.NEWEST, "Could not import system.Artifact")])
def test_stock_tfx_entrypoint_fails_at_its_first_task_and_ours_does_not(
        spec_file, tmp_path, cli, kfp_version, error):
    """Before 2.5 the first write to a minio:// root fails; from 2.5 TFX fails earlier, on
    the executor-logs output the driver adds to every task. Ours passes under both."""
    stock = variant(spec_file, str(tmp_path / "stock.yaml"), stock=["ImportSchemaGen"],
                    keep=["ImportSchemaGen"])
    result = cli("replay", stock, "--root", str(tmp_path / "stock"), "--kfp-version", kfp_version)
    assert result.returncode == 1
    (failure,) = [l for l in result.stdout.splitlines() if "✘" in l]
    assert "ImportSchemaGen" in failure and error in failure, failure
    ours = variant(spec_file, str(tmp_path / "ours.yaml"), keep=["ImportSchemaGen"])
    result = cli("replay", ours, "--root", str(tmp_path / "ours"), "--kfp-version", kfp_version)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ImportSchemaGen   ok" in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("with_fingerprint", [False, True], ids=["tfx-spec", "ours"])
def test_a_new_span_reaches_example_gen_only_through_the_data_fingerprint(
        spec_file, tmp_path, cli, with_fingerprint):
    keep = ["CsvExampleGen"] + ([compiler.FINGERPRINT_TASK] if with_fingerprint else [])
    spec = variant(spec_file, str(tmp_path / "v.yaml"), keep=keep,
                   without_fingerprint=not with_fingerprint)
    data = spans_dir(tmp_path, 1, 2)
    root = str(tmp_path / "root")
    first = cli("replay", spec, "--root", root, "--param", f"data_root={data}")
    assert first.returncode == 0, first.stdout
    shutil.copytree(os.path.join(DATA, "span-3"), os.path.join(data, "span-3"))
    second = cli("replay", spec, "--root", root, "--param", f"data_root={data}")
    assert second.returncode == 0, second.stdout
    if with_fingerprint:
        assert "CsvExampleGen     ok" in second.stdout
        assert output_metadata(root, run_id_of(second.stdout), "CsvExampleGen", "examples")[
            "span"] == 3
    else:  # the OSS cache key is the same, so the first run's span-2 examples come back
        assert "CsvExampleGen     cached" in second.stdout
        state = replayer.State(root)
        (scope,) = state.data["cache"].values()
        (entry,) = scope.values()
        assert entry["outputs"]["examples"][0]["metadata"]["span"] == 2


def _python_task(code: str) -> dict:
    return {"container": {"image": "python", "command": ["python", "-c", code,
                                                         "{{$.inputs.parameters['serving_dir']}}"]}}


@pytest.mark.parametrize("declared", [False, True], ids=["no-volume", "state-volume"])
def test_only_a_declared_volume_outlives_the_pod(tmp_path, object_store, declared):
    """A push outside a declared volume lands in the pod's own file system and is gone."""
    write = "import os,sys; os.makedirs(sys.argv[1] + '/1'); open(sys.argv[1] + '/1/saved_model.pb', 'w')"
    look = "import os,sys; assert os.path.exists(sys.argv[1] + '/1/saved_model.pb'), 'no version 1'"
    spec = {"pipelineInfo": {"name": "volumes"}, "defaultPipelineRoot": "minio://bucket/root",
            "schemaVersion": "2.1.0",
            "components": {c: {"executorLabel": c, "inputDefinitions": {
                "parameters": {"serving_dir": {"parameterType": "STRING"}}}}
                for c in ("Push", "Serve")},
            "deploymentSpec": {"executors": {"Push": _python_task(write),
                                             "Serve": _python_task(look)}},
            "root": {"dag": {"tasks": {
                t: {"taskInfo": {"name": t}, "componentRef": {"name": t},
                    "dependentTasks": ["Push"] if t == "Serve" else [],
                    "inputs": {"parameters": {"serving_dir": {"runtimeValue": {
                        "constant": "/pipeline/state/serving"}}}}}
                for t in ("Push", "Serve")}}}}
    platform = {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        e: {"pvcMount": [{"constant": "state", "mountPath": "/pipeline/state"}]}
        for e in ("Push", "Serve")}}}}} if declared else {}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump_all([spec, platform] if declared else [spec]))
    result = replayer.replay(compiler.load(str(path)), str(tmp_path / "root"), store=object_store,
                             pipeline_root="minio://bucket/root",
                             platform=compiler.load_platform(str(path)), echo=lambda _: None)
    assert result.tasks["Push"].ok
    assert result.tasks["Serve"].ok is declared
    if not declared:
        assert "no version 1" in replayer.last_error(result.tasks["Serve"].log)


def test_directory_markers_download_as_files_and_break_a_saved_model(tmp_path, object_store):
    """kubeflow/pipelines#13476: TF's gs:// file system leaves zero-byte "dir/" keys, and the
    launcher's DownloadBlob writes each as a file, so the folder it names cannot be made."""
    model = f"gs://markers/{tmp_path.name}/Trainer/1/model"
    object_store.put(model + "/Format-Serving/", b"")
    object_store.put(model + "/Format-Serving/saved_model.pb", b"pb")
    object_store.put(model + "/Format-Serving/variables/", b"")
    object_store.put(model + "/Format-Serving/variables/variables.index", b"index")
    with pytest.raises(NotADirectoryError):
        object_store.download(model, str(tmp_path / "gcs" / "model"))
    assert (tmp_path / "gcs" / "model" / "Format-Serving").is_file()
    # What our entry point's executors leave behind uploads as files only, and downloads back.
    clean = model.replace("/Trainer/", "/Clean/")
    local = tmp_path / "local" / "model" / "Format-Serving"
    (local / "variables").mkdir(parents=True)
    (local / "saved_model.pb").write_bytes(b"pb")
    (local / "variables" / "variables.index").write_bytes(b"index")
    object_store.upload(str(tmp_path / "local" / "model"), clean)
    assert object_store.list(clean) == [k.split("markers/", 1)[1] for k in (
        clean + "/Format-Serving/saved_model.pb", clean + "/Format-Serving/variables/variables.index")]
    object_store.download(clean, str(tmp_path / "back"))
    assert (tmp_path / "back" / "Format-Serving" / "variables" / "variables.index").read_bytes() == b"index"


@pytest.mark.parametrize("strict", [False, True], ids=["2.2-2.15", "2.17"])
def test_a_download_by_prefix_pulls_sibling_keys_until_2_17(tmp_path, object_store, strict):
    prefix = f"minio://mlpipeline/{tmp_path.name}/Trainer/u1"
    object_store.put(prefix + "/model/saved_model.pb", b"pb")
    object_store.put(prefix + "/model_run/events", b"ev")
    object_store.download(prefix + "/model", str(tmp_path / "pod" / "model"), strict_prefix=strict)
    assert (tmp_path / "pod" / "model" / "saved_model.pb").read_bytes() == b"pb"
    assert (tmp_path / "pod" / "model_run" / "events").exists() is not strict


def test_a_local_pipeline_root_is_refused_before_any_task_runs(spec_file, tmp_path, object_store):
    spec = compiler.load(spec_file)
    with pytest.raises(replayer.ReplayError, match="is not object storage"):
        replayer.replay(spec, str(tmp_path / "root"), store=object_store,
                        pipeline_root=str(tmp_path / "artifacts"), echo=lambda _: None)
    assert not (tmp_path / "root").exists()


def test_the_run_root_is_the_runs_then_the_launcher_configs_never_the_specs():
    assert replayer.run_pipeline_root("s3://b/run", "minio://b/config") == "s3://b/run"
    assert replayer.run_pipeline_root(None, "minio://b/config") == "minio://b/config"
    assert replayer.run_pipeline_root(None, None) == "minio://mlpipeline/v2/artifacts"


def test_driver_inputs_lose_their_type_schema_and_carry_artifact_ids(spec_file):
    spec = compiler.load(spec_file)
    produced = replayer.TaskRun("CsvExampleGen", 0, 1.0, "log", outputs={"examples": [{
        "name": "7", "uri": "minio://b/x", "metadata": {"span": 3},
        "type": {"instanceSchema": "title: tfx.Examples\n"}}]})
    inputs = replayer.driver_inputs("StatisticsGen", spec.root.dag.tasks["StatisticsGen"], {},
                                     {"CsvExampleGen": produced})
    (artifact,) = inputs["artifacts"]["examples"]["artifacts"]
    assert artifact == {"name": "7", "uri": "minio://b/x", "metadata": {"span": 3},
                        "type": {"instanceSchema": ""}}


def test_the_cache_key_ignores_the_output_uri_salt_but_not_parameters():
    inputs = {"artifacts": {"examples": {"artifacts": [{"name": "7"}]}},
              "parameterValues": {"input_fingerprint": "span 2: aa"}}

    def outputs(salt: str) -> dict:
        return {"artifacts": {"model": {"artifacts": [{
            "uri": f"minio://b/root/Trainer/{salt}/model", "type": {"instanceSchema": "t"}}]}}}
    key = replayer.cache_key(inputs, outputs("u1"), {}, ["python"], "img")
    assert key == replayer.cache_key(inputs, outputs("u2"), {}, ["python"], "img")
    changed = copy.deepcopy(inputs)
    changed["parameterValues"]["input_fingerprint"] = "span 3: bb"
    assert key != replayer.cache_key(changed, outputs("u1"), {}, ["python"], "img")
    assert key != replayer.cache_key(inputs, outputs("u1"), {}, ["python"], "img:2")


def test_the_image_content_is_mounted_as_the_dockerfile_copies_it():
    mounts = replayer.image_mounts("/pipeline")
    assert mounts["/pipeline/data"] == os.path.join(ROOT, "data")
    assert mounts["/pipeline/config.yaml"] == os.path.join(ROOT, "config.yaml")
    assert "/pipeline/state" not in mounts and "/pipeline" not in mounts


def test_an_unimportable_dotted_path_fails_at_its_task_with_one_line(spec_file, tmp_path, cli):
    with open(spec_file) as f:
        data, platform = yaml.safe_load_all(f)
    args = data["deploymentSpec"]["executors"]["CsvExampleGen_executor"]["container"]["args"]
    args[args.index("--executor_class_path") + 1] = "components.no_such_module.Executor"
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump_all([data, platform]))
    result = cli("replay", str(path), "--root", str(tmp_path / "root"))
    assert result.returncode == 1
    failure = [l for l in result.stdout.splitlines() if "✘ CsvExampleGen" in l]
    assert len(failure) == 1 and "components.no_such_module.Executor" in failure[0]
    assert "StatisticsGen     not run" in result.stdout


def test_a_missing_dependency_between_tasks_is_caught(spec_file):
    spec = compiler.load(spec_file)
    stats = spec.root.dag.tasks["StatisticsGen"]
    stats.inputs.artifacts["examples"].task_output_artifact.producer_task = "NoSuchTask"
    with pytest.raises(replayer.ReplayError, match="NoSuchTask"):
        replayer.task_order(spec)


def test_cycles_unknown_parameters_and_placeholders_are_errors(spec_file):
    spec = compiler.load(spec_file)
    cyclic = copy.deepcopy(spec)
    cyclic.root.dag.tasks["CsvExampleGen"].dependent_tasks.append("Pusher")
    with pytest.raises(replayer.ReplayError, match="depend on each other"):
        replayer.task_order(cyclic)
    with pytest.raises(replayer.ReplayError, match="unknown runtime parameter 'epochs'"):
        replayer.pipeline_parameters(spec, {"epochs": "3"})
    with pytest.raises(replayer.ReplayError, match="not supported by the replay"):
        replayer._fill("{{$.pipeline_job_resource_name}}", {}, "T")
    assert replayer.pipeline_parameters(spec, {"train_steps": "12"})["train_steps"] == 12


def test_mounts_map_image_paths_to_local_folders():
    mounts = {"/pipeline": "/pod/pipeline", "/pipeline/state": "/out/state"}
    assert replayer.mount('{"base_directory": "/pipeline/state/serving"}', mounts) == \
        '{"base_directory": "/out/state/serving"}'
    assert replayer.mount("/pipeline/serving", mounts) == "/pod/pipeline/serving"
    assert replayer.mount("/pipelines-other", mounts) == "/pipelines-other"


def test_without_minio_the_replay_says_how_to_get_it_in_one_line(spec_file, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"TFX_TOOLS_DIR": str(tmp_path / "no-tools"), "MINIO_BINARY": "",
                "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"})
    result = subprocess.run([sys.executable, "-m", "pipeline", "replay", spec_file, "--root",
                             str(tmp_path / "root")], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: no MinIO server found: run `make minio` (builds it with `go install` into "
        f"{tmp_path / 'no-tools'}/bin) or set MINIO_BINARY"]


def test_an_unreachable_object_store_is_one_line(spec_file, tmp_path):
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "a",
           "AWS_SECRET_ACCESS_KEY": "b"}
    result = subprocess.run([sys.executable, "-m", "pipeline", "replay", spec_file, "--root",
                             str(tmp_path / "root")], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "cannot reach the object store at http://127.0.0.1:9 (AWS_ENDPOINT_URL)" in line


def test_kfp_versions_map_to_the_behaviours_read_in_their_source():
    assert [replayer.backend(v).version for v in ("2.2.0", "2.5.0", "2.14.0", "2.15.0", "2.16.1",
                                                 "2.17.0")] == ["2.2", "2.5", "2.5", "2.15",
                                                                "2.15", "2.17"]
    for unread in ("2.1", "1.8.5", "latest"):
        with pytest.raises(ValueError, match="not a KFP 2.x version the replay plays"):
            replayer.backend(unread)


@pytest.mark.parametrize("version", ["2.2", "2.5", "2.15", "2.17"])
def test_outputs_are_provisioned_as_each_version_does(spec_file, version):
    spec = compiler.load(spec_file)
    behaviour = replayer.backend(version)
    outputs = replayer.provision_outputs(spec.components["Trainer"], "minio://b/r/penguins/run1",
                                         "Trainer", "/pod", behaviour)
    names = sorted(outputs["artifacts"])
    model = outputs["artifacts"]["model"]["artifacts"][0]
    if version == "2.2":
        assert names == ["model", "model_run"]
        assert model["uri"] == "minio://b/r/penguins/run1/Trainer/model"
        assert outputs["outputFile"] == "/pod/tmp/kfp_outputs/output_metadata.json"
        return
    assert names == ["executor-logs", "model", "model_run"]
    logs = outputs["artifacts"]["executor-logs"]["artifacts"][0]
    assert logs["type"] == {"schemaTitle": "system.Artifact"}
    task_root = model["uri"].rsplit("/", 1)[0]
    assert task_root.startswith("minio://b/r/penguins/run1/Trainer/") and task_root.count("/") == 7
    assert logs["uri"] == task_root + "/executor-logs"
    if version == "2.5":
        assert outputs["outputFile"] == "/pod/tmp/kfp_outputs/output_metadata.json"
        assert "name" not in model
    else:  # from 2.15 the file sits in the local task root, and outputs carry their names
        assert outputs["outputFile"] == "/pod/minio/" + task_root[len("minio://"):] + \
            "/output_metadata.json"
        assert model["name"] == "model"


def test_from_2_15_the_cache_key_also_hashes_the_claims_a_task_mounts():
    inputs = {"artifacts": {}, "parameterValues": {"serving_state": "none"}}
    outputs = {"artifacts": {}}
    without = replayer.cache_key(inputs, outputs, {}, ["python"], "img")
    assert without == replayer.cache_key(inputs, outputs, {}, ["python"], "img", None)
    with_claim = replayer.cache_key(inputs, outputs, {}, ["python"], "img", ["state"])
    assert with_claim != without
    assert with_claim != replayer.cache_key(inputs, outputs, {}, ["python"], "img", ["other"])


def test_independent_tasks_start_together_as_argo_starts_them(tmp_path, object_store):
    """Each task waits (at most 2 minutes) for the other to have started: run one at a time,
    the first would give up and fail."""
    meet = ("import os,sys,time; d=sys.argv[1]; open(os.path.join(d, sys.argv[2]), 'w').close(); "
            "t=time.time()\nwhile len(os.listdir(d)) < 2 and time.time() - t < 120: time.sleep(0.1)\n"
            "sys.exit(0 if len(os.listdir(d)) == 2 else 'alone')")
    (tmp_path / "meet").mkdir()
    spec = {"pipelineInfo": {"name": "together"}, "schemaVersion": "2.1.0",
            "components": {t: {"executorLabel": t} for t in ("A", "B")},
            "deploymentSpec": {"executors": {t: {"container": {"image": "python", "command": [
                "python", "-c", meet, str(tmp_path / "meet"), t]}} for t in ("A", "B")}},
            "root": {"dag": {"tasks": {t: {"taskInfo": {"name": t}, "componentRef": {"name": t}}
                                       for t in ("A", "B")}}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = replayer.replay(compiler.load(str(path)), str(tmp_path / "root"), store=object_store,
                             pipeline_root="minio://bucket/root", echo=lambda _: None)
    assert result.tasks["A"].ok and result.tasks["B"].ok
    assert sorted(os.listdir(tmp_path / "meet")) == ["A", "B"]
