"""Two new users, end to end through the CLI with only a config and a curated schema:
``examples/tips.yaml`` (an integer 0/1 label) and ``examples/deliveries.yaml`` (a numeric
target, ``data.task: regression``). Each must get a blessed, pushed model and a report, with
the task's metrics in ML Metadata; a regressor that misses its bound is not pushed.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipeline import factory
from pipeline.metadata import mlmd
from tests.conftest import ROOT
from tests.e2e.helpers import cli, nodes_of, run_id_of

pytestmark = pytest.mark.e2e


def run(config: str, output_root: str) -> subprocess.CompletedProcess:
    return cli("run", "--config", config, "--output-root", output_root, "--train-steps", "100")


def overall(evaluation_uri: str) -> dict:
    """{(metric, model, class id): value} of the overall slice, from TFMA's output."""
    for record in tfma.load_metrics(evaluation_uri):
        if not record.slice_key.single_slice_keys:
            return {(kv.key.name, kv.key.model_name,
                     kv.key.sub_key.class_id.value if kv.key.HasField("sub_key") else None):
                    kv.value.double_value.value
                    for kv in record.metric_keys_and_values if kv.value.HasField("double_value")}
    raise AssertionError(f"no overall slice in {evaluation_uri}")


def slices(evaluation_uri: str) -> set:
    return {tuple((k.column, k.bytes_value) for k in r.slice_key.single_slice_keys)
            for r in tfma.load_metrics(evaluation_uri)}


def serve(model_dir: str, features: dict) -> dict:
    def feature(value):
        if isinstance(value, bytes):
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        if isinstance(value, float):
            return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    example = tf.train.Example(features=tf.train.Features(
        feature={k: feature(v) for k, v in features.items()}))
    model = tf.saved_model.load(model_dir)
    return model.signatures["serving_default"](examples=tf.constant([example.SerializeToString()]))


def first_run(tmp_path_factory, name: str):
    """(output root, result) of a run of ``examples/<name>.yaml`` on a fresh output root."""
    out = str(tmp_path_factory.mktemp(name))
    result = run(os.path.join(ROOT, "examples", f"{name}.yaml"), out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


@pytest.fixture(scope="module")
def tips(tmp_path_factory):
    return first_run(tmp_path_factory, "tips")


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory):
    return first_run(tmp_path_factory, "deliveries")


def test_an_integer_binary_label_is_blessed_with_auc_and_precision_recall_in_mlmd(tips):
    out, result = tips
    nodes = nodes_of(out, run_id_of(result.stdout))
    assert set(nodes) == set(factory.COMPONENT_IDS)
    assert all(n.state == "COMPLETE" for n in nodes.values())
    assert "Model: blessed, pushed as version 1" in result.stdout
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 1
    assert mlmd.prop(nodes["Pusher"].outputs["pushed_model"][0], "pushed_version") == "1"
    evaluation = nodes["Evaluator"].outputs["evaluation"][0].uri
    metrics = overall(evaluation)
    assert metrics[("accuracy", "", None)] >= 0.7  # examples/tips.yaml: evaluator.min_accuracy
    assert 0.5 < metrics[("auc", "", 1)] <= 1.0
    assert 0.0 < metrics[("precision_at_threshold", "", 1)] <= 1.0
    assert 0.0 < metrics[("recall_at_threshold", "", 1)] <= 1.0
    assert {(("payment", b"card"),), (("payment", b"cash"),)} <= slices(evaluation)


def test_the_integer_label_model_serves_its_own_class_values(tips):
    out, _ = tips
    served = os.path.join(out, "serving", "1")
    # The id and timestamp columns are excluded: no vocabulary for pickup_time.
    assert sorted(os.listdir(os.path.join(served, "assets"))) == ["big_tipper", "payment"]
    result = serve(served, {"trip_id": 1, "pickup_time": b"2026-01-01 10:00", "distance_km": 12.0,
                            "fare": 25.0, "passengers": 1, "payment": b"card"})
    assert result["probabilities"].shape == (1, 2)
    assert result["classes"].numpy()[0] in (b"0", b"1")
    assert int(result["class_ids"].numpy()[0]) == int(result["classes"].numpy()[0])


def test_a_regression_is_blessed_with_mse_and_mae_overall_and_per_slice_in_mlmd(deliveries):
    out, result = deliveries
    nodes = nodes_of(out, run_id_of(result.stdout))
    assert all(n.state == "COMPLETE" for n in nodes.values())
    assert "Model: blessed, pushed as version 1" in result.stdout
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 1
    evaluation = nodes["Evaluator"].outputs["evaluation"][0].uri
    metrics = overall(evaluation)
    mae, mse = metrics[("mean_absolute_error", "", None)], metrics[("mean_squared_error", "", None)]
    assert 0 < mae <= 6.0  # examples/deliveries.yaml: evaluator.max_error
    assert mae ** 2 <= mse  # the mean of squares is at least the square of the mean
    assert ("accuracy", "", None) not in metrics
    regions = {(("region", r),) for r in (b"east", b"north", b"south", b"west")}
    assert regions <= slices(evaluation)
    for record in tfma.load_metrics(evaluation):  # MSE and MAE on every slice
        names = {kv.key.name for kv in record.metric_keys_and_values}
        assert {"mean_absolute_error", "mean_squared_error"} <= names

    served = serve(os.path.join(out, "serving", "1"),
                   {"order_id": 1, "created_at": b"2026-01-01 10:00", "distance_km": 5.0,
                    "items": 3, "region": b"south"})
    # 8 + 3.2 * 5 + 1.1 * 3 = 27.3 minutes in the generator, plus noise.
    assert served["predictions"].shape == (1, 1)
    assert 15 < float(served["predictions"][0, 0]) < 40

    listed = cli("models", "--json", "--output-root", out, "--config",
                 os.path.join(ROOT, "examples", "deliveries.yaml"))
    # This run's model (another test may have added a run to the same root).
    (row,) = [r for r in (json.loads(line) for line in listed.stdout.splitlines()
                          if line.startswith("{")) if r["run_id"] == run_id_of(result.stdout)]
    assert row["metric"] == "mean_absolute_error"
    assert row["mean_absolute_error"] == pytest.approx(mae)
    html = open(os.path.join(out, "reports", run_id_of(result.stdout) + ".html")).read()
    assert "Predicted against actual" in html and "svg" in html and 'class="scatter"' in html


def test_a_regressor_above_its_error_bound_is_not_pushed(deliveries, tmp_path):
    out, first = deliveries
    strict = tmp_path / "strict.yaml"
    text = open(os.path.join(ROOT, "examples", "deliveries.yaml")).read()
    strict.write_text(text.replace("max_error: 6.0", "max_error: 0.5")
                      .replace("../", os.path.join(ROOT, "")))
    result = run(str(strict), out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Model: NOT blessed, not pushed" in result.stdout
    assert "NOT blessed: mean_absolute_error " in result.stdout and "> 0.5" in result.stdout
    nodes = nodes_of(out, run_id_of(result.stdout))
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 0
    assert sorted(os.listdir(os.path.join(out, "serving"))) == ["1"]
    assert nodes["Trainer"].state == "CACHED"  # only the evaluation settings changed


@pytest.mark.parametrize("name,features", [
    ("tips", {"trip_id": 1, "pickup_time": b"2026-01-01 10:00", "distance_km": 12.0, "fare": 25.0,
              "passengers": 1, "payment": b"card"}),
    ("deliveries", {"order_id": 50000, "created_at": b"2026-01-14 22:26", "distance_km": 4.53,
                    "items": 8, "region": b"east"})])
def test_the_raw_features_signature_answers_as_the_example_one(name, features, request):
    """An integer-label classifier's and a regressor's serving_raw give serving_default's
    outputs for the same row."""
    out, _ = request.getfixturevalue(name)
    model_dir = os.path.join(out, "serving", "1")
    raw = tf.saved_model.load(model_dir).signatures["serving_raw"]
    _, specs = raw.structured_input_signature
    assert sorted(specs) == sorted(features)
    by_raw = raw(**{k: tf.constant([v], specs[k].dtype) for k, v in features.items()})
    by_example = serve(model_dir, features)
    assert sorted(by_raw) == sorted(by_example)
    for key in by_example:
        assert by_raw[key].numpy().tolist() == by_example[key].numpy().tolist()
