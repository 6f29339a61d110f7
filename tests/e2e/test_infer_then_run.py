"""A new user's two steps, through the CLI: ``infer-schema --label`` on their CSV, then ``run``
with a config that only names the data, the label and the inferred schema, unedited.

* taxi trips (``data/tips``) plus a column with one value in 300 rows: ``infer-schema`` warns
  about it and requires no presence of it, so each hash split passes the gate;
* the penguins with ``species`` coded 0/1/2: a three-class integer label.

Each must end with a blessed, pushed model.
"""
from __future__ import annotations

import csv
import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv

from pipeline import factory
from pipeline.metadata import mlmd
from tests.conftest import ROOT
from tests.e2e.test_local_run import nodes_of, run_id_of
from tests.e2e.test_tabular_tasks import cli, overall, serve

pytestmark = pytest.mark.e2e

SPECIES = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}


def _rewrite(source_root: str, target_root: str, change) -> None:
    """Copies each span's CSV under ``source_root``, each row passed through ``change``."""
    for span in sorted(os.listdir(source_root)):
        (name,) = os.listdir(os.path.join(source_root, span))
        with open(os.path.join(source_root, span, name), newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        rows = [change(span, i, dict(row)) for i, row in enumerate(rows)]
        os.makedirs(os.path.join(target_root, span))
        with open(os.path.join(target_root, span, name), "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def _infer_and_run(tmp, label: str, config: str):
    """(infer-schema's result, run's result, output root) for ``tmp/data``; ``config`` is the
    rest of the config file, after the data root, label and schema."""
    schema = os.path.join(tmp, "schema.pbtxt")
    inferred = cli("infer-schema", "--data", os.path.join(tmp, "data"), "--label", label,
                   "--output", schema)
    assert inferred.returncode == 0, inferred.stdout + inferred.stderr
    path = os.path.join(tmp, "config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"schema: schema.pbtxt\ndata:\n  root: data\n  label: {label}\n{config}")
    out = os.path.join(tmp, "out")
    ran = cli("run", "--config", path, "--output-root", out, "--train-steps", "100")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return inferred, ran, out


def _assert_blessed_and_pushed(out: str, ran) -> dict:
    nodes = nodes_of(out, run_id_of(ran.stdout))
    assert set(nodes) == set(factory.COMPONENT_IDS)
    assert all(n.state == "COMPLETE" for n in nodes.values())
    assert "Model: blessed, pushed as version 1" in ran.stdout
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 1
    assert os.listdir(os.path.join(out, "serving")) == ["1"]
    return nodes


def _non_missing(stats_file: str, name: str) -> int:
    """Examples with a value of ``name`` in a split's statistics (0 if it is not listed)."""
    stats = tfdv.load_stats_binary(stats_file).datasets[0]
    feature = next((f for f in stats.features if f.path.step == [name]), None)
    if feature is None or feature.WhichOneof("stats") is None:
        return 0
    return getattr(feature, feature.WhichOneof("stats")).common_stats.num_non_missing


@pytest.fixture(scope="module")
def sparse_tips(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("sparse_tips"))

    def add_tract(span, i, row):  # one value in the whole data, in the span the run trains on
        row["pickup_census_tract"] = "17031081800" if (span, i) == ("span-2", 40) else ""
        return row

    _rewrite(os.path.join(ROOT, "data", "tips"), os.path.join(tmp, "data"), add_tract)
    return tmp, *_infer_and_run(tmp, "big_tipper", (
        "  exclude_features: [trip_id, pickup_time, pickup_census_tract]\n"
        "evaluator:\n  slices: [payment]\n  min_accuracy: 0.7\n"))


def test_an_almost_empty_column_is_warned_about_and_passes_the_gate(sparse_tips):
    tmp, inferred, ran, out = sparse_tips
    assert ("Warning: column 'pickup_census_tract' has a value in only 1 of 300 rows (0.3%; "
            "0 in span-1)") in inferred.stdout
    assert "data.exclude_features: [pickup_census_tract, ...]" in inferred.stdout
    assert "Checked: the train and eval splits (2:1 hash split) of 2 span(s) all pass" in inferred.stdout
    schema = tfdv.load_schema_text(os.path.join(tmp, "schema.pbtxt"))
    tract = next(f for f in schema.feature if f.name == "pickup_census_tract")
    assert tract.presence.min_count == 0
    nodes = _assert_blessed_and_pushed(out, ran)
    assert nodes["ExampleValidator"].state == "COMPLETE"
    # The value's row went to one split only: the other has no value of the column at all.
    stats_uri = nodes["StatisticsGen"].outputs["statistics"][0].uri
    present = [_non_missing(os.path.join(stats_uri, f"Split-{split}", "FeatureStats.pb"),
                            "pickup_census_tract") for split in ("train", "eval")]
    assert sorted(present) == [0, 1]


@pytest.fixture(scope="module")
def species_codes(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("species_codes"))

    def code(span, i, row):
        row["species"] = str(SPECIES[row["species"]])
        return row

    _rewrite(os.path.join(ROOT, "data", "penguins"), os.path.join(tmp, "data"), code)
    return tmp, *_infer_and_run(tmp, "species", "")


def test_a_three_class_integer_label_is_blessed_and_serves_its_values(species_codes):
    tmp, inferred, ran, out = species_codes
    assert ("Label 'species': integers with 3 distinct values (0, 1, 2; int_domain 0 to 2 set): "
            "proposed task classification (multi-class).") in inferred.stdout
    assert "Warning" not in inferred.stdout
    nodes = _assert_blessed_and_pushed(out, ran)
    metrics = overall(nodes["Evaluator"].outputs["evaluation"][0].uri)
    assert metrics[("accuracy", "", None)] >= 0.8  # config.yaml's evaluator.min_accuracy
    assert ("auc", "", 1) not in metrics  # binary-only metrics stay off for three classes
    gentoo = {"island": b"Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0,
              "flipper_length_mm": 215, "body_mass_g": 5200, "sex": b"male", "year": 2009}
    served = serve(os.path.join(out, "serving", "1"), gentoo)
    assert served["probabilities"].shape == (1, 3)
    assert served["classes"].numpy()[0] == b"2"  # a Gentoo's measurements
    assert int(served["class_ids"].numpy()[0]) == int(served["classes"].numpy()[0])
    # The inferred schema gives required features shape [1]; serving_raw takes one value a row.
    raw = tf.saved_model.load(os.path.join(out, "serving", "1")).signatures["serving_raw"]
    _, specs = raw.structured_input_signature
    by_raw = raw(**{k: tf.constant([v], specs[k].dtype) for k, v in gentoo.items()})
    for key in served:
        assert by_raw[key].numpy().tolist() == served[key].numpy().tolist()
