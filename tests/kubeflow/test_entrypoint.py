"""kubeflow.entrypoint: TFX's executor entry point, fed what open-source KFP's launcher sends."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from kubeflow import entrypoint
from tests.conftest import ROOT

EXAMPLES_SCHEMA = "title: tfx.Examples\ntype: object\n"
INPUTS_SPEC = {"artifacts": {"examples": {"artifactType": {"instanceSchema": EXAMPLES_SCHEMA}}},
               "parameters": {"input_base": {"parameterType": "STRING"}}}


def driver_input(pod_root: str) -> dict:
    """An executor input as the OSS driver builds it: an input from ML Metadata with an empty
    type schema, remote URIs, and a cache-key parameter the component does not declare."""
    return {
        "inputs": {"artifacts": {"examples": {"artifacts": [{
            "name": "42", "uri": "minio://mlpipeline/root/CsvExampleGen/u1/examples",
            "type": {"instanceSchema": ""}, "metadata": {"span": 3, "display_name": "examples"}}]}},
            "parameterValues": {"input_base": "/data", "input_fingerprint": "span 3: ab"}},
        "outputs": {"artifacts": {"statistics": {"artifacts": [{
            "uri": "gs://bucket/root/StatisticsGen/u2/statistics",
            "type": {"instanceSchema": "title: tfx.ExampleStatistics\n"}}]}},
            "outputFile": os.path.join(pod_root, "tmp", "kfp_outputs", "output_metadata.json")}}


def test_local_paths_are_the_launchers_mirrors():
    assert entrypoint.local_path("gs://b/k/x") == "/gcs/b/k/x"
    assert entrypoint.local_path("minio://mlpipeline/a") == "/minio/mlpipeline/a"
    assert entrypoint.local_path("s3://b/a", "/pod") == "/pod/s3/b/a"
    assert entrypoint.local_path("/pipeline/state/serving/1") is None


def test_empty_input_schemas_are_filled_from_the_inputs_spec(tmp_path):
    executor_input = driver_input(str(tmp_path))
    assert entrypoint.fill_input_types(executor_input, INPUTS_SPEC) == ["examples"]
    (artifact,) = executor_input["inputs"]["artifacts"]["examples"]["artifacts"]
    assert artifact["type"] == {"instanceSchema": EXAMPLES_SCHEMA}
    assert entrypoint.fill_input_types(executor_input, INPUTS_SPEC) == []  # a schema stays


def test_stock_tfx_parsing_fails_on_the_drivers_input_and_not_after_the_fill(tmp_path):
    """tensorflow/tfx#7768, in TFX's own parser."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as tfx_utils

    def parse(executor_input):
        message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
        return tfx_utils.parse_raw_artifact_dict(message.inputs.artifacts)

    executor_input = driver_input(str(tmp_path))
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'get'"):
        parse(executor_input)
    entrypoint.fill_input_types(executor_input, INPUTS_SPEC)
    (examples,) = parse(executor_input)["examples"]
    assert examples.type_name == "Examples" and examples.span == 3


def test_remote_uris_point_at_the_mirrors_and_come_back_in_the_output(tmp_path):
    pod = str(tmp_path)
    executor_input = driver_input(pod)
    mapping = entrypoint.use_local_mirrors(executor_input, pod)
    examples = executor_input["inputs"]["artifacts"]["examples"]["artifacts"][0]["uri"]
    statistics = executor_input["outputs"]["artifacts"]["statistics"]["artifacts"][0]["uri"]
    assert examples == f"{pod}/minio/mlpipeline/root/CsvExampleGen/u1/examples"
    assert os.path.isdir(examples)  # an input with no objects still lists as a folder
    assert statistics == f"{pod}/gcs/bucket/root/StatisticsGen/u2/statistics"
    assert os.path.isdir(os.path.dirname(statistics)) and not os.path.exists(statistics)
    output = executor_input["outputs"]["outputFile"]
    os.makedirs(os.path.dirname(output))
    with open(output, "w") as f:
        json.dump({"artifacts": {"statistics": {"artifacts": [{
            "uri": statistics, "metadata": {"from": examples + "/Split-train", "span": 3}}]}}}, f)
    entrypoint.restore_remote_uris(output, mapping)
    with open(output) as f:
        (artifact,) = json.load(f)["artifacts"]["statistics"]["artifacts"]
    assert artifact["uri"] == "gs://bucket/root/StatisticsGen/u2/statistics"
    assert artifact["metadata"] == {
        "from": "minio://mlpipeline/root/CsvExampleGen/u1/examples/Split-train", "span": 3}


def test_cache_key_parameters_are_dropped_before_tfx_reads_them(tmp_path):
    executor_input = driver_input(str(tmp_path))
    assert entrypoint.drop_undeclared_parameters(executor_input, INPUTS_SPEC) == ["input_fingerprint"]
    assert executor_input["inputs"]["parameterValues"] == {"input_base": "/data"}


def test_prepare_accepts_both_flag_forms_and_names_a_missing_invocation(tmp_path):
    pod = str(tmp_path)
    argv = ["--executor_class_path", "x.Executor",
            f"--json_serialized_invocation_args={json.dumps(driver_input(pod))}",
            "--json_serialized_inputs_spec_args", json.dumps(INPUTS_SPEC), "--runner=DirectRunner"]
    prepared, mapping, output_file = entrypoint.prepare(argv, pod)
    executor_input = json.loads(prepared[prepared.index(entrypoint.INVOCATION_FLAG) + 1])
    assert executor_input["inputs"]["artifacts"]["examples"]["artifacts"][0]["type"]["instanceSchema"]
    assert "input_fingerprint" not in executor_input["inputs"]["parameterValues"]
    assert sorted(mapping.values()) == ["gs://bucket/root/StatisticsGen/u2/statistics",
                                        "minio://mlpipeline/root/CsvExampleGen/u1/examples"]
    assert prepared[-1] == "--runner=DirectRunner" and output_file.startswith(pod)
    with pytest.raises(SystemExit, match="--json_serialized_invocation_args is missing"):
        entrypoint.prepare(["--executor_class_path", "x.Executor"], pod)


def test_data_fingerprint_changes_with_a_new_span_and_with_new_bytes(tmp_path):
    from kubeflow import data_fingerprint

    data = tmp_path / "data"
    (data / "span-1").mkdir(parents=True)
    (data / "span-1" / "a.csv").write_text("x,y\n1,2\n")
    one = data_fingerprint.fingerprint(str(data), "span-{SPAN}/*.csv", 1)
    assert one.startswith("span 1: ")
    (data / "span-2").mkdir()
    (data / "span-2" / "a.csv").write_text("x,y\n3,4\n")
    two = data_fingerprint.fingerprint(str(data), "span-{SPAN}/*.csv", 2)
    assert two.startswith("span 1: ") and "; span 2: " in two
    assert data_fingerprint.fingerprint(str(data), "span-{SPAN}/*.csv", 1, span=1) == one
    (data / "span-1" / "a.csv").write_text("x,y\n1,5\n")  # same path, same size, new bytes
    assert data_fingerprint.fingerprint(str(data), "span-{SPAN}/*.csv", 1, span=1) != one
    result = subprocess.run([sys.executable, "-m", "kubeflow.data_fingerprint", "--data_root",
                             str(tmp_path / "nothing"), "--span_pattern", "span-{SPAN}/*.csv",
                             "--output", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and not (tmp_path / "out").exists()
    assert result.stderr.strip().splitlines() == [f"Error: {tmp_path / 'nothing'}: data folder does not exist"]


def with_executor_logs(executor_input: dict) -> dict:
    """The executor input of a 2.5+ driver: it adds ``executor-logs`` to every task's outputs."""
    executor_input["outputs"]["artifacts"]["executor-logs"] = {"artifacts": [{
        "name": "executor-logs", "uri": "minio://mlpipeline/root/StatisticsGen/u2/executor-logs",
        "type": {"schemaTitle": "system.Artifact"}}]}
    return executor_input


def test_stock_tfx_fails_on_the_executor_logs_output_and_the_entrypoint_drops_it(tmp_path):
    """KFP 2.5+ with log publishing on (the default): TFX cannot import system.Artifact."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils as tfx_utils

    def parse_outputs(executor_input):
        message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
        return tfx_utils.parse_raw_artifact_dict(message.outputs.artifacts)

    with pytest.raises(ImportError, match="Could not import system.Artifact"):
        parse_outputs(with_executor_logs(driver_input(str(tmp_path))))
    argv = ["--executor_class_path", "x.Executor", entrypoint.INVOCATION_FLAG,
            json.dumps(with_executor_logs(driver_input(str(tmp_path)))),
            entrypoint.DECLARED_OUTPUTS_FLAG, json.dumps(["statistics"]), "--runner=DirectRunner"]
    prepared, mapping, _ = entrypoint.prepare(argv, str(tmp_path))
    assert entrypoint.DECLARED_OUTPUTS_FLAG not in prepared  # TFX would pass it on to Beam
    assert prepared[-1] == "--runner=DirectRunner"
    executor_input = json.loads(prepared[prepared.index(entrypoint.INVOCATION_FLAG) + 1])
    assert list(executor_input["outputs"]["artifacts"]) == ["statistics"]
    assert "minio://mlpipeline/root/StatisticsGen/u2/executor-logs" not in mapping.values()
    (statistics,) = parse_outputs(executor_input)["statistics"]
    assert statistics.type_name == "ExampleStatistics"


def test_serving_state_names_the_version_and_changes_with_its_files(tmp_path):
    from kubeflow import serving_state

    serving = tmp_path / "serving"
    assert serving_state.serving_state(str(serving)) == "none"
    (serving / "1" / "variables").mkdir(parents=True)
    (serving / "1" / "saved_model.pb").write_bytes(b"model one")
    one = serving_state.serving_state(str(serving))
    assert one.startswith("version 1: ")
    # A rollback copies version 1 in as version 2: the version differs, the digest does not.
    shutil.copytree(serving / "1", serving / "2")
    rolled_back = serving_state.serving_state(str(serving))
    assert rolled_back.startswith("version 2: ") and rolled_back.split(": ")[1] == one.split(": ")[1]
    # A recreated volume: version 1 again, but another model.
    shutil.rmtree(serving)
    (serving / "1").mkdir(parents=True)
    (serving / "1" / "saved_model.pb").write_bytes(b"model two")
    assert serving_state.serving_state(str(serving)).startswith("version 1: ")
    assert serving_state.serving_state(str(serving)) != one
    (serving / "3").mkdir()  # an incomplete push (no saved_model.pb) is not served
    assert serving_state.serving_state(str(serving)).startswith("version 1: ")
