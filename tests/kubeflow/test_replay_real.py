"""`replay --real`: the committed spec under open-source KFP's own driver and launcher-v2.

The programs are the backend's, built by `make kfp-backend`; MinIO is real; ML Metadata is
ml_metadata's own store behind its gRPC service; Argo, the pods, the Kubernetes API and the
API server's cache service are stood in for (kubeflow/replay/real/). The slice tests run the
2.17.0 programs when `make kfp-backend` has built them (and say how to build them when not);
the two-replay e2e test takes 5-9 minutes a version on 2 shared cores, so it runs on
demand: KFP_REAL_E2E=2.17 (or 2.5, or 2.5,2.17).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from kubeflow import compile as compiler
from kubeflow import replay as replayer
from kubeflow.replay import real
from kubeflow.replay.real import binaries, sandbox
from kubeflow.replay.real.cache_api import CacheApiServer, MESSAGES
from kubeflow.replay.real.kube import KubeApi
from kubeflow.replay.real.outputs import task_outputs
from tests.conftest import DATA, ROOT

SPEC = os.path.join(ROOT, "kubeflow", "pipeline.yaml")  # the committed spec
E2E_VERSIONS = [v for v in os.environ.get("KFP_REAL_E2E", "").split(",") if v]


def kfp(version: str) -> binaries.KfpVersion:
    """The built programs; without them the test is skipped with the command that builds them
    (`make test` does not build them: their module may not be on every Go proxy)."""
    if sandbox.available():
        pytest.skip(sandbox.available())
    try:
        return binaries.kfp_version(version)
    except replayer.ReplayError as e:
        pytest.skip(str(e))


def only(tasks, out: str, *, strip_declared_outputs: bool = False) -> str:
    """The committed spec with only ``tasks``; optionally without the entry point's
    --declared_outputs (so TFX sees every output the backend adds)."""
    with open(SPEC) as f:
        spec, platform = yaml.safe_load_all(f)
    spec["root"]["dag"]["tasks"] = {k: v for k, v in spec["root"]["dag"]["tasks"].items()
                                    if k in tasks}
    if strip_declared_outputs:
        for name in tasks:
            args = spec["deploymentSpec"]["executors"][f"{name}_executor"]["container"]["args"]
            at = args.index(compiler.DECLARED_OUTPUTS_FLAG)
            del args[at:at + 2]
    with open(out, "w") as f:
        yaml.safe_dump_all([spec, platform], f)
    return out


def real_replay(spec_path: str, root, object_store, version: str = binaries.NEWEST, **kwargs):
    spec = compiler.load(spec_path)
    credentials = object_store.credentials
    return real.replay(
        spec, str(root), store=object_store, platform=compiler.load_platform(spec_path),
        mounts=replayer.image_mounts("/pipeline"), pipeline_root=spec.default_pipeline_root,
        kfp_version=version, echo=lambda line: None, secrets={"mlpipeline-minio-artifact": {
            "accesskey": credentials.access_key, "secretkey": credentials.secret_key}}, **kwargs)


def test_the_schema_task_runs_under_the_real_2_17_programs_then_hits_their_cache(
        tmp_path, object_store):
    kfp(binaries.NEWEST)
    spec = only(["ImportSchemaGen"], str(tmp_path / "spec.yaml"))
    first = real_replay(spec, tmp_path / "root", object_store)
    task = first.tasks["ImportSchemaGen"]
    assert task.ok and not task.cached, open(task.log).read()[-3000:]
    # The backend's URIs: <run root>/<pipeline>/<run>/<task>/<uuid>/<output>.
    schema = first.artifact("ImportSchemaGen", "schema")["uri"]
    assert schema.startswith(f"{first.run_root}/ImportSchemaGen/") and schema.endswith("/schema")
    assert b"feature" in object_store.get(schema + "/schema.pbtxt")
    # The launcher adds executor-logs (first attempt: -0) and uploads the executor's output.
    logs = first.artifact("ImportSchemaGen", "executor-logs")["uri"]
    assert logs.endswith("/executor-logs-0")
    assert b"Copied a schema file" in object_store.get(logs)
    # Nothing landed on this machine's own root.
    assert not os.path.exists("/run/secrets/kubernetes.io") and not os.path.exists("/minio")

    second = real_replay(spec, tmp_path / "root", object_store)
    assert second.tasks["ImportSchemaGen"].cached  # the driver's hit, through the API stand-in
    assert second.artifact("ImportSchemaGen", "schema")["uri"] == schema


def test_without_declared_outputs_the_entry_point_fails_under_real_2_17_not_the_2_2_emulation(
        tmp_path, object_store):
    """The executor-logs output the 2.5+ driver adds breaks TFX unless the entry point drops
    what its component does not declare; the 2.2 emulation never had that output."""
    kfp(binaries.NEWEST)
    spec = only(["ImportSchemaGen"], str(tmp_path / "spec.yaml"), strip_declared_outputs=True)
    under_real = real_replay(spec, tmp_path / "real", object_store)
    task = under_real.tasks["ImportSchemaGen"]
    assert not task.ok
    with open(task.log) as f:
        assert "Could not import system.Artifact" in f.read()
    emulated = replayer.replay(
        compiler.load(spec), str(tmp_path / "emulated"), store=object_store,
        platform=compiler.load_platform(spec), mounts=replayer.image_mounts("/pipeline"),
        kfp_version=replayer.OLDEST, pipeline_root=compiler.load(spec).default_pipeline_root,
        echo=lambda line: None)
    assert emulated.tasks["ImportSchemaGen"].ok


def _statuses(stdout: str) -> dict:
    return {line.split()[0]: line.split()[1] for line in stdout.splitlines()
            if line.startswith("  ") and len(line.split()) >= 3 and line.split()[1] in (
                "ok", "cached", "not", "exit")}


def _outputs(root, stdout: str) -> dict:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    run_id = next(line.split()[1].rstrip(":") for line in stdout.splitlines()
                  if line.startswith("Replay "))
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(root / "mlmd.sqlite")
    found = task_outputs(metadata_store.MetadataStore(config), run_id)
    return {task: {k: v[0]["metadata"] for k, v in outputs.items()}
            for task, (outputs, _) in found.items()}


@pytest.mark.e2e
@pytest.mark.parametrize("version", ["2.17", "2.5"])
def test_two_real_replays_across_a_new_span_push_two_versions(tmp_path, minio, version):
    if version not in E2E_VERSIONS:
        pytest.skip(f"on demand (5-9 minutes): KFP_REAL_E2E={version}")
    kfp(version)
    data = tmp_path / "data"
    for span in (1, 2):
        shutil.copytree(os.path.join(DATA, f"span-{span}"), data / f"span-{span}")
    root = tmp_path / "root"
    args = [sys.executable, "-m", "pipeline", "replay", SPEC, "--real", "--kfp-version", version,
            "--root", str(root), "--param", "train_steps=30", "--param", f"data_root={data}"]
    env = {**os.environ, **minio.env()}
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Model: blessed, pushed as version 1" in first.stdout
    assert _outputs(root, first.stdout)["CsvExampleGen"]["examples"]["span"] == 2

    shutil.copytree(os.path.join(DATA, "span-3"), data / "span-3")  # a span lands
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    status = _statuses(second.stdout)
    assert status["ImportSchemaGen"] == "cached"  # KFP's own cache decision
    assert status["DataFingerprint"] == status["CsvExampleGen"] == status["Trainer"] == "ok"
    outputs = _outputs(root, second.stdout)
    assert outputs["CsvExampleGen"]["examples"]["span"] == 3
    baseline = outputs["ServingBaseline"]["baseline_model"]
    assert baseline["has_model"] == 1 and baseline["serving_version"] == 1
    assert outputs["Evaluator"]["blessing"]["blessed"] == 1
    assert "Model: blessed, pushed as version 2" in second.stdout
    assert sorted(os.listdir(root / "volumes" / "tfx-pipeline-state" / "serving")) == ["1", "2"]


def test_without_the_built_programs_replay_real_says_how_to_build_them(tmp_path, monkeypatch,
                                                                       minio):
    env = {**os.environ, **minio.env(), "TFX_TOOLS_DIR": str(tmp_path / "empty")}
    result = subprocess.run([sys.executable, "-m", "pipeline", "replay", SPEC, "--real",
                             "--root", str(tmp_path / "root")], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 1
    (error,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "driver is not built" in error and "make kfp-backend" in error


def test_only_2_5_and_2_17_are_built_for_real():
    with pytest.raises(replayer.ReplayError, match="2.5.0 or 2.17.0|2.17.0 or 2.5.0"):
        binaries.kfp_version("2.2")


def test_the_kubernetes_stand_in_serves_only_its_objects(tmp_path):
    kube = KubeApi(str(tmp_path), "kubeflow", {"kfp-launcher": {"providers": "x"}},
                   {"mlpipeline-minio-artifact": {"accesskey": "minio"}})
    status, secret = kube.answer("GET", "/api/v1/namespaces/kubeflow/secrets/mlpipeline-minio-artifact")
    assert status == 200 and secret["data"] == {"accesskey": "bWluaW8="}
    assert kube.answer("GET", "/api/v1/namespaces/other/configmaps/kfp-launcher")[0] == 404
    assert kube.answer("DELETE", "/api/v1/namespaces/kubeflow/configmaps/kfp-launcher")[0] == 404
    assert kube.answer("GET", "/api/v1/namespaces/kubeflow/pods/p")[0] == 404
    kube.add_pod("p", "run.root.Trainer.executor")
    pod = kube.answer("GET", "/api/v1/namespaces/kubeflow/pods/p")[1]
    assert pod["metadata"]["annotations"]["workflows.argoproj.io/node-name"].endswith("(0)")


def test_the_cache_stand_in_answers_the_newest_entry_of_a_fingerprint(tmp_path):
    import json

    api = CacheApiServer(str(tmp_path / "tasks.json"))
    for execution in ("1", "2"):
        api.create(MESSAGES["CreateTaskRequest"](task=MESSAGES["Task"](
            fingerprint="f", pipelineName="p", namespace="kubeflow", mlmdExecutionID=execution)), None)
    query = json.dumps({"predicates": [
        {"op": "EQUALS", "key": "fingerprint", "stringValue": "f"},
        {"op": "EQUALS", "key": "namespace", "stringValue": "kubeflow"}]})
    found = api.list(MESSAGES["ListTasksRequest"](filter=query, page_size=1,
                                                  sort_by="created_at desc"), None)
    assert [t.mlmdExecutionID for t in found.tasks] == ["2"]
    other = query.replace('"kubeflow"', '"team-a"')
    assert not api.list(MESSAGES["ListTasksRequest"](filter=other, page_size=1), None).tasks
    assert len(CacheApiServer(str(tmp_path / "tasks.json")).tasks) == 2  # kept for the next replay


def _in_sandbox(step, script: str, binds=None):
    from kubeflow.replay.real import sandbox

    if sandbox.available():
        pytest.skip(sandbox.available())
    os.makedirs(step / "root", exist_ok=True)
    for source in [step / "tmp", *(binds or {}).values()]:
        os.makedirs(source, exist_ok=True)
    layout = {"root": str(step / "root"), "binds": {"/tmp": str(step / "tmp"), **(binds or {})},
              "cwd": "/", "argv": ["sh", "-c", script], "env": {"PATH": "/usr/bin:/bin"}}
    return subprocess.Popen(sandbox.command(layout, str(step / "layout.json")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_parallel_steps_each_get_their_own_fixed_paths_and_leave_the_machine_alone(tmp_path):
    account = tmp_path / "account"
    account.mkdir()
    (account / "namespace").write_text("kubeflow")
    secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
    steps = [_in_sandbox(tmp_path / name, f"cat {secrets}/namespace; echo {name} > /tmp/who; "
                         f"mkdir -p /minio/b && echo {name} > /minio/b/k; sleep 1; cat /tmp/who",
                         {secrets: str(account), "/minio": str(tmp_path / name / "minio")})
             for name in ("a", "b")]
    outputs = [p.communicate(timeout=60)[0] for p in steps]
    assert outputs == ["kubeflowa\n", "kubeflowb\n"]
    assert (tmp_path / "b" / "minio" / "b" / "k").read_text() == "b\n"
    assert not os.path.exists("/minio") and not os.path.exists("/run/secrets/kubernetes.io")


def test_a_mount_over_the_machines_own_folder_is_refused(tmp_path):
    step = _in_sandbox(tmp_path / "s", "true", {"/var/lib/kfp": str(tmp_path)})
    output = step.communicate(timeout=60)[0]
    assert step.returncode != 0 and "would be mounted over this machine's own folder" in output


def test_the_patch_env_takes_secret_keys_and_pod_fields_and_refuses_the_rest():
    from kubeflow.replay.real.pod import _env

    main = {"env": [{"name": "A", "value": "1"},
                    {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    assert _env(main, {"s": {"k": "v"}}, {"metadata.name": "p"}) == {"A": "1", "KEY": "v", "POD": "p"}
    with pytest.raises(replayer.ReplayError, match="has no key"):
        _env(main, {"s": {}}, {"metadata.name": "p"})
    other = {"env": [{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}]}
    with pytest.raises(replayer.ReplayError, match="configMapKeyRef is not stood in for"):
        _env(other, {}, {})
