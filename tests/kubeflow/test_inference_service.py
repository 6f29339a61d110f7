"""The KServe InferenceService that compile writes, checked against KServe's own CRD schema.

The CRD is data kept outside the repository (``<project>/../shared/kserve/``, see its
README); without it the schema tests skip, naming the path.
"""
from __future__ import annotations

import copy
import os

import pytest
import yaml
from click.testing import CliRunner

from kubeflow import inference_service
from pipeline import config as config_lib
from tests.conftest import ROOT

CRD = os.path.join(os.path.dirname(ROOT), "shared", "kserve",
                   "serving.kserve.io_inferenceservices.yaml")


@pytest.fixture(scope="module")
def validator():
    if not os.path.isfile(CRD):
        pytest.skip(f"KServe's InferenceService CRD is not at {CRD}")
    import jsonschema

    with open(CRD, encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1beta1"]
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """What ``compile`` writes beside the spec, from the project's config."""
    from pipeline.cli import main

    out = tmp_path_factory.mktemp("isvc") / "spec.yaml"
    result = CliRunner().invoke(main, ["compile", "--output", str(out)])
    assert result.exit_code == 0, result.output
    path = inference_service.path_beside(str(out))
    assert f"Wrote {path}: KServe InferenceService penguins" in result.output
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_compile_writes_a_manifest_that_kserve_s_crd_accepts(written, validator):
    assert sorted(e.message for e in validator.iter_errors(written)) == []
    assert written["apiVersion"] == "serving.kserve.io/v1beta1"
    assert written["kind"] == "InferenceService"


def test_the_manifest_serves_the_push_destination_on_the_state_volume_and_logs_everything(written):
    cfg = config_lib.load()
    predictor = written["spec"]["predictor"]
    assert written["metadata"]["name"] == cfg.pipeline_name
    assert predictor["model"]["modelFormat"] == {"name": "tensorflow"}
    # /pipeline/state/serving on the claim mounted at /pipeline/state -> its "serving" folder
    assert predictor["model"]["storageUri"] == f"pvc://{cfg.kubeflow.state_volume}/serving"
    assert predictor["logger"] == {"mode": "all", "url": cfg.kubeflow.logger_url}


def test_runtime_version_is_the_tf_serving_release_of_the_exporting_tensorflow(written):
    from importlib import metadata

    assert metadata.version("tensorflow").startswith("2.16.")
    assert written["spec"]["predictor"]["model"]["runtimeVersion"] == "2.16.1"
    assert inference_service.runtime_version("2.17.0") == "2.17.1"
    with pytest.raises(inference_service.ManifestError, match="tensorflow 3.0.1: no known"):
        inference_service.runtime_version("3.0.1")


@pytest.mark.parametrize("breakage, where", [
    (lambda m: m["spec"]["predictor"]["logger"].update(mode="everything"), "everything"),
    (lambda m: m["spec"]["predictor"].update(minReplicas="two"), "two"),
    (lambda m: m["spec"].pop("predictor"), "predictor"),
])
def test_a_broken_manifest_fails_the_crd_schema(written, validator, breakage, where):
    broken = copy.deepcopy(written)
    breakage(broken)
    errors = [e.message for e in validator.iter_errors(broken)]
    assert errors and any(where in e for e in errors), errors


def test_a_serving_dir_outside_the_state_dir_or_a_bad_logger_url_is_one_line(tmp_path):
    from pipeline.cli import main

    for setting, named in (("serving_dir: /elsewhere/serving", "kubeflow.serving_dir"),
                           ("logger_url: prediction-log:8501", "kubeflow.logger_url")):
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"schema: {ROOT}/schema/schema.pbtxt\nkubeflow:\n  {setting}\n")
        out = tmp_path / "spec.yaml"
        result = CliRunner().invoke(main, ["compile", "--config", str(cfg), "--output", str(out)])
        assert result.exit_code == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and named in errors[0], result.stderr
        assert not out.exists() and not os.path.exists(inference_service.path_beside(str(out)))


def test_the_committed_manifest_is_what_compile_writes_now(written):
    with open(os.path.join(ROOT, "kubeflow", "pipeline.inferenceservice.yaml")) as f:
        assert yaml.safe_load(f) == written, "run `python -m pipeline compile` and commit"
