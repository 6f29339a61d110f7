"""A data root in the object store on Kubeflow: what the data tasks get, and a replay of them.

``data_root`` is a runtime parameter, so every compiled spec gives the data tasks the store's
endpoint (container ``env``) and keys (``secretAsEnv`` from Kubeflow's MinIO Secret); the
replay's MinIO stands in for the cluster's MinIO service.
"""
from __future__ import annotations

import uuid

import pytest
from google.protobuf import json_format

from kubeflow import compile as compiler
from kubeflow import replay as replayer
from pipeline import config as config_lib
from components.lib import s3_filesystem
from tests.conftest import span_file
from tests.kubeflow.test_replay import (cli, executor_output, output_metadata,  # noqa: F401
                                        run_id_of, spec_file, statuses, variant)

DATA_EXECUTORS = sorted(f"{t}_executor" for t in compiler.DATA_TASKS)
SECRET = "mlpipeline-minio-artifact"


def _compiled(**overrides):
    cfg = config_lib.load(overrides=overrides)
    spec = compiler.build_spec(cfg)
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"]
    platform = compiler.platform_spec(cfg, spec)["platforms"]["kubernetes"]["deploymentSpec"][
        "executors"]
    return executors, platform


def test_only_the_data_tasks_get_the_store_endpoint_and_keys():
    executors, platform = _compiled()
    with_env = sorted(l for l, e in executors.items() if "env" in e["container"])
    assert with_env == DATA_EXECUTORS
    assert executors["CsvExampleGen_executor"]["container"]["env"] == [
        {"name": "AWS_ENDPOINT_URL", "value": "http://minio-service.kubeflow:9000"}]
    assert sorted(l for l, c in platform.items() if "secretAsEnv" in c) == DATA_EXECUTORS
    assert platform["DriftCheck_executor"]["secretAsEnv"] == [{"secretName": SECRET, "keyToEnv": [
        {"secretKey": "accesskey", "envVar": "AWS_ACCESS_KEY_ID"},
        {"secretKey": "secretkey", "envVar": "AWS_SECRET_ACCESS_KEY"}]}]


def test_empty_settings_leave_the_data_tasks_without_store_access():
    executors, platform = _compiled(**{"kubeflow.data_store.endpoint": "",
                                       "kubeflow.data_store.secret": ""})
    assert not [l for l, e in executors.items() if "env" in e["container"]]
    assert not [l for l, c in platform.items() if "secretAsEnv" in c]


@pytest.mark.parametrize("setting, value, named", [
    ("endpoint", "minio-service:9000", "kubeflow.data_store.endpoint: 'minio-service:9000'"),
    ("secret", "MinIO_Keys", "kubeflow.data_store.secret: 'MinIO_Keys'")])
def test_a_bad_data_store_setting_is_one_line_naming_it(setting, value, named):
    cfg = config_lib.load(overrides={f"kubeflow.data_store.{setting}": value})
    with pytest.raises(compiler.CompileError) as error:
        compiler.build_spec(cfg)
    assert named in str(error.value) and "\n" not in str(error.value)


def _upload(store, root: str, *spans: int) -> None:
    for span in spans:
        with open(span_file(span), "rb") as f:
            store.put(f"{root}/span-{span}/penguins.csv", f.read())


@pytest.mark.parametrize("with_secret", [True, False], ids=["secret", "no-secret"])
def test_data_fingerprint_reads_s3_with_the_keys_of_the_secret_only(
        spec_file, tmp_path, object_store, monkeypatch, with_secret):
    """The task's keys come from the Secret, not from this process; its endpoint names the
    cluster's MinIO service, for which the replay's MinIO stands in."""
    for name in (s3_filesystem.ENDPOINT_ENV, s3_filesystem.ACCESS_KEY_ENV,
                 s3_filesystem.SECRET_KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    data = f"s3://data/{uuid.uuid4().hex[:8]}/penguins"
    _upload(object_store, data, 1, 2)
    spec = variant(spec_file, str(tmp_path / "v.yaml"), keep=[compiler.FINGERPRINT_TASK])
    platform = compiler.load_platform(spec)
    if not with_secret:
        del platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][
            f"{compiler.FINGERPRINT_TASK}_executor"]["secretAsEnv"]
    keys = object_store.credentials
    result = replayer.replay(
        compiler.load(spec), str(tmp_path / "root"), store=object_store,
        parameters={"data_root": data}, platform=platform,
        pipeline_root="minio://mlpipeline/data-store", echo=lambda _: None,
        secrets={SECRET: {"accesskey": keys.access_key, "secretkey": keys.secret_key}})
    task = result.tasks[compiler.FINGERPRINT_TASK]
    if with_secret:
        assert task.ok, replayer.last_error(task.log)
        assert task.parameters[compiler.FINGERPRINT_PARAM].startswith("span 2: ")
    else:
        assert not task.ok
        error = replayer.last_error(task.log)
        assert f"{data}: no credentials for object storage" in error
        assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set" in error
        with open(task.log) as f:
            assert "Traceback" not in f.read()


DATA_TASKS_SPEC = [compiler.FINGERPRINT_TASK, "ImportSchemaGen", "CsvExampleGen", "StatisticsGen",
                   "DriftCheck"]


@pytest.mark.e2e
def test_a_new_span_in_the_bucket_is_read_and_drift_compares_it_with_the_last(
        spec_file, tmp_path, cli, object_store):
    """The continuous-training recipe with the data in MinIO: spans 1-2, then span 3 lands."""
    data = f"s3://data/{uuid.uuid4().hex[:8]}/penguins"
    _upload(object_store, data, 1, 2)
    spec = variant(spec_file, str(tmp_path / "v.yaml"), keep=DATA_TASKS_SPEC)
    root = str(tmp_path / "root")
    args = ("replay", spec, "--root", root, "--param", f"data_root={data}")
    first = cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    run1 = run_id_of(first.stdout)
    assert output_metadata(root, run1, "CsvExampleGen", "examples")["span"] == 2
    assert output_metadata(root, run1, "DriftCheck", "drift")["previous_spans"] == "1"

    _upload(object_store, data, 3)
    second = cli(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    run2 = run_id_of(second.stdout)
    status = statuses(second.stdout)
    assert status["ImportSchemaGen"] == "cached"
    assert status["CsvExampleGen"] == status["DriftCheck"] == "ok"
    examples = output_metadata(root, run2, "CsvExampleGen", "examples")
    assert examples["span"] == 3 and examples["spans"] == "3"
    drift = output_metadata(root, run2, "DriftCheck", "drift")
    assert drift["previous_spans"] == "2"
    report = executor_output(root, run2, "DriftCheck")["artifacts"]["drift"]["artifacts"][0]["uri"]
    assert b'"previous_spans": [\n    2\n  ]' in object_store.get(report + "/drift.json")
