"""`submit` through the real kfp.Client against a loopback stand-in for the KFP API."""
from __future__ import annotations

import os

import pytest
import yaml
from click.testing import CliRunner

from pipeline.cli import main
from tests.conftest import ROOT
from tests.kubeflow.kfp_standin import KfpStandIn

SPEC = os.path.join(ROOT, "kubeflow", "pipeline.yaml")
SECRET = "SECRET-submit-91c2"


@pytest.fixture
def secret_env(monkeypatch):
    monkeypatch.setenv("KFP_BEARER_TOKEN", SECRET)


def submit(*args: str):
    return CliRunner().invoke(main, ["submit", SPEC, *args])


def test_run_uploads_the_spec_with_parameters_and_prints_id_and_url(secret_env):
    with KfpStandIn() as standin:
        result = submit("--host", standin.host, "--namespace", "team-a", "--experiment", "ct",
                        "--run-name", "nightly-1", "--param", "train_steps=7",
                        "--param", "data_root=gs://bucket/penguins")
    assert result.exit_code == 0, result.output
    assert "Created run run-0001" in result.output
    assert f"{standin.host}/#/runs/details/run-0001" in result.output
    (run,) = [r for r in standin.requests if r.method == "POST" and r.path == "/apis/v2beta1/runs"]
    with open(SPEC) as f:
        spec, platform = yaml.safe_load_all(f)
    # With a platform config (the state volume) the client sends both, in the form the
    # API server (2.2.0 and later, server/api_util.go) reads.
    assert run.body["pipeline_spec"] == {"pipeline_spec": spec, "platform_spec": platform}
    assert run.body["display_name"] == "nightly-1"
    assert run.body["runtime_config"]["parameters"] == {"train_steps": 7,
                                                        "data_root": "gs://bucket/penguins"}
    # No backend reads the spec's defaultPipelineRoot: the root must travel with the run.
    assert run.body["runtime_config"]["pipeline_root"] == spec["defaultPipelineRoot"]
    (experiment,) = [r for r in standin.requests if r.method == "POST" and "experiments" in r.path]
    assert experiment.body == {"display_name": "ct", "namespace": "team-a"}
    for request in standin.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers.get("authorization") == f"Bearer {SECRET}", request.path
    assert not any(SECRET in r.raw for r in standin.requests)
    assert SECRET not in result.output


def test_recurring_run_with_cron(secret_env):
    with KfpStandIn() as standin:
        result = submit("--host", standin.host, "--run-name", "daily", "--recurring", "0 3 * * *")
    assert result.exit_code == 0, result.output
    assert "Created recurring run rr-0001" in result.output
    (job,) = [r for r in standin.requests if r.path == "/apis/v2beta1/recurringruns"]
    assert job.body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert job.body["runtime_config"]["parameters"] == {"train_steps": 300,
                                                        "data_root": "/pipeline/data/penguins"}
    with open(SPEC) as f:
        assert job.body["runtime_config"]["pipeline_root"] == next(
            yaml.safe_load_all(f))["defaultPipelineRoot"]
    assert not any(SECRET in r.raw for r in standin.requests)


def test_a_pipeline_root_flag_goes_with_the_run(secret_env):
    with KfpStandIn() as standin:
        result = submit("--host", standin.host, "--pipeline-root", "s3://team-bucket/runs")
    assert result.exit_code == 0, result.output
    (run,) = [r for r in standin.requests if r.method == "POST" and r.path == "/apis/v2beta1/runs"]
    assert run.body["runtime_config"]["pipeline_root"] == "s3://team-bucket/runs"


def test_the_session_cookie_is_sent_and_never_printed(monkeypatch):
    cookie = "authservice_session=cookie-" + "c" * 24
    monkeypatch.delenv("KFP_BEARER_TOKEN", raising=False)
    monkeypatch.setenv("KFP_COOKIE", cookie)
    with KfpStandIn() as standin:
        result = submit("--host", standin.host)
    assert result.exit_code == 0, result.output
    for request in standin.requests:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert cookie in headers.get("cookie", ""), request.path
        assert "authorization" not in headers
    assert not any(cookie in r.raw for r in standin.requests) and cookie not in result.output


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_give_one_line_and_exit_1(secret_env, status):
    with KfpStandIn(status=status) as standin:
        result = submit("--host", standin.host)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert f"refused the credentials (HTTP {status})" in result.output
    assert SECRET not in result.output


def test_unreachable_host_gives_one_line_and_exit_1():
    with KfpStandIn() as standin:
        host = standin.host  # a port that is closed once the stand-in stops
    result = submit("--host", host)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert f"cannot reach Kubeflow Pipelines at {host}" in result.output


@pytest.mark.parametrize("args, named", [
    (["--param", "epochs=3"], "unknown runtime parameter 'epochs'"),
    (["--param", "train_steps"], "--param 'train_steps': expected name=value"),
    (["--run-name", "Nightly Run"], "--run-name: 'Nightly Run' is not a valid Kubeflow name"),
    (["--recurring", "every day"], "--recurring: 'every day' is not a cron expression"),
])
def test_bad_arguments_are_named_before_anything_is_sent(args, named):
    with KfpStandIn() as standin:
        result = submit("--host", standin.host, *args)
    assert result.exit_code == 1 and named in result.output
    assert not [r for r in standin.requests if r.method == "POST"]
