"""Ground truth: the labels endpoint and the CSV import check every label against the
config's label, write nothing on an error, and say in one line what is wrong."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from components.lib.label import Label
from pipeline.serving import ground_truth

SPECIES = Label("species", "classification", ["Adelie", "Chinstrap", "Gentoo"])
RATING = Label("rating", "classification", ["1", "2", "3"], integer=True)
MASS = Label("body_mass_g", "regression", [])


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.e2e
def test_labels_endpoint_appends_checked_labels(serve):
    served = serve()
    url = f"{served.model_url}/labels"
    assert served.client.post(url, json={"id": "req-1", "label": "Gentoo"}).json() == {"written": 1}
    assert served.client.post(url, json=[{"id": "req-2/0", "label": "Adelie"},
                                         {"id": "req-2/1", "label": "Chinstrap"}]).json() == {
        "written": 2}
    bad = served.client.post(url, json=[{"id": "req-3", "label": "Adelie"},
                                        {"id": "req-4", "label": "Emperor"}])
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("[1].label: 'Emperor' is not a class of 'species'")
    assert served.client.post(url, content=b"{").status_code == 400
    written = lines(served.cfg.ground_truth_path)
    assert [(w["id"], w["label"]) for w in written] == [
        ("req-1", "Gentoo"), ("req-2/0", "Adelie"), ("req-2/1", "Chinstrap")]
    assert all(w["time"].endswith("Z") for w in written)


@pytest.mark.parametrize("label,value,written", [
    (SPECIES, "Adelie", "Adelie"), (RATING, 2, 2), (RATING, "3", 3), (MASS, 4200, 4200),
    (MASS, "4200.5", 4200.5)])
def test_check_accepts_and_normalizes(label, value, written):
    assert ground_truth.check(label, value) == written


@pytest.mark.parametrize("label,value,words", [
    (SPECIES, "Emperor", "not a class"), (SPECIES, None, "not a class"), (RATING, 4, "not a class"),
    (RATING, True, "not a class"), (MASS, "heavy", "expected a number"),
    (MASS, float("nan"), "expected a number")])
def test_check_refuses(label, value, words):
    with pytest.raises(ground_truth.GroundTruthError, match=words):
        ground_truth.check(label, value)


def _label_cli(tmp_path, csv_text):
    from pipeline.cli import main
    from tests.conftest import DATA, SCHEMA

    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"output_root": str(tmp_path / "out"), "schema": SCHEMA,
                                  "data": {"root": DATA}}))
    path = tmp_path / "labels.csv"
    path.write_text(csv_text)
    result = CliRunner().invoke(main, ["label", "--config", str(config), "--csv", str(path)])
    return result, path, tmp_path / "out" / "serving" / "ground_truth.jsonl"


def test_csv_import_writes_every_row(tmp_path):
    result, _, written = _label_cli(tmp_path, "request_id,label\nabc,Adelie\nabc/1,Gentoo\n")
    assert result.exit_code == 0, result.output
    assert "Wrote 2 label(s)" in result.output
    assert [(w["id"], w["label"]) for w in lines(written)] == [("abc", "Adelie"),
                                                                ("abc/1", "Gentoo")]


@pytest.mark.parametrize("csv_text,words", [
    ("id,label\nabc,Adelie\n", "no column 'request_id'"),
    ("request_id,species\nabc,Adelie\n", "no column 'label'"),
    ("request_id,label\nabc,Adelie\n,Gentoo\n", "line 3: column request_id"),
    ("request_id,label\nabc,Adelie\nxyz,Emperor\n", "line 3: column label: 'Emperor'"),
    ("request_id,label\n", "no rows after the header"),
])
def test_csv_import_errors_name_file_line_and_column_and_write_nothing(tmp_path, csv_text,
                                                                        words):
    result, path, written = _label_cli(tmp_path, csv_text)
    assert result.exit_code == 1
    error = result.output.strip()
    assert error.startswith(f"Error: {path}") and words in error and "\n" not in error, error
    assert not written.exists()


def test_csv_import_of_a_missing_file(tmp_path):
    from pipeline.cli import main

    missing = str(tmp_path / "nope.csv")
    result = CliRunner().invoke(main, ["label", "--output-root", str(tmp_path), "--csv", missing])
    assert result.exit_code == 1 and result.output.strip() == f"Error: {missing}: file not found"


@pytest.mark.e2e
def test_an_unwritable_ground_truth_file_is_a_500_and_the_server_goes_on(serve):
    import os

    served = serve()
    os.makedirs(served.cfg.ground_truth_path)  # a folder where the file should be
    failed = served.client.post(f"{served.model_url}/labels", json={"id": "a", "label": "Adelie"})
    assert failed.status_code == 500 and "ground_truth.jsonl" in failed.json()["error"]
    assert served.client.get(served.model_url).status_code == 200
