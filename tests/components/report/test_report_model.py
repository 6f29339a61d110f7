"""The report model and its rendering: threshold table, baseline column, escaping."""
from __future__ import annotations

import re

import pytest
import yaml
from tfx import types
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.utils import import_utils

from components.report import model, render

from components.report import data as report_data
from components.report.component import HTML_KEY, MARKDOWN_KEY, ReportSpec
from tests.components.report import report_fixtures as fx

OVERALL = ()
DREAM = (("island", "Dream"),)
BISCOE = (("island", "Biscoe"),)
HOSTILE = "<script>alert(1)</script>"


def build(tmp_path, accuracy, *, blessed: int, **extra) -> model.Report:
    fx.write_evaluation(str(tmp_path / "evaluation"), accuracy,
                        counts={OVERALL: 40, DREAM: 12, BISCOE: 25, **extra.pop("counts", {})})
    sources = model.Sources(
        run_id="run-1", run_time="2026-01-01 00:00:00 UTC", label="species",
        evaluation=fx.artifact(str(tmp_path / "evaluation")),
        blessing=fx.artifact(str(tmp_path / "blessing"), blessed=blessed),
        pushed_model=fx.artifact(str(tmp_path / "pushed"), pushed=blessed,
                                 **({"pushed_version": "3"} if blessed else {})),
        **extra)
    return model.build(sources)


def rows_by_key(report):
    return {(r.slice, r.kind): r for r in report.evaluation.thresholds}


def test_blessed_without_baseline_has_only_value_thresholds_all_passing(tmp_path):
    report = build(tmp_path, {OVERALL: (0.95, None), DREAM: (0.9, None), BISCOE: (1.0, None)},
                   blessed=1)
    assert report.verdict.headline == "Blessed" and report.verdict.push == "pushed as version 3"
    assert not report.evaluation.has_baseline
    rows = rows_by_key(report)
    assert set(rows) == {("Overall", "value"), ("island = Dream", "value"),
                         ("island = Biscoe", "value")}
    assert all(r.passed and r.baseline is None and r.threshold == ">= 0.8" for r in rows.values())
    assert rows[("island = Dream", "value")].candidate == pytest.approx(0.9)
    page = render.to_html(report)
    head = re.search(r'<table class="thresholds"><thead>(.*?)</thead>', page).group(1)
    assert "baseline" not in head and "difference" not in head
    assert "✘ FAIL" not in page and 'class="verdict pass"' in page


def test_not_blessed_with_baseline_flags_each_failed_threshold(tmp_path):
    report = build(tmp_path, {OVERALL: (0.90, 0.95), DREAM: (0.5, 0.9), BISCOE: (1.0, 1.0)},
                   blessed=0)
    assert report.verdict.headline == "NOT blessed" and report.verdict.push == "not pushed"
    assert report.evaluation.has_baseline and not report.evaluation.validation_ok
    rows = rows_by_key(report)
    failed = {key for key, r in rows.items() if not r.passed}
    # Overall dropped 0.05 (> 0.02 allowed); Dream is below 0.8 and dropped 0.4.
    assert failed == {("Overall", "change"), ("island = Dream", "value"),
                      ("island = Dream", "change")}
    change = rows[("Overall", "change")]
    assert (change.candidate, change.baseline) == pytest.approx((0.90, 0.95))
    assert change.difference == pytest.approx(-0.05) and change.threshold == "change >= -0.02"
    assert report.evaluation.thresholds[0].passed is False  # failures are listed first
    page = render.to_html(report)
    head = re.search(r'<table class="thresholds"><thead>(.*?)</thead>', page).group(1)
    assert "<th>baseline</th>" in head and "<th>difference</th>" in head
    assert page.count("✘ FAIL") == 3 and 'class="verdict fail"' in page
    assert "3 threshold(s) failed" in page
    summary = render.to_markdown(report)
    assert summary.startswith("## ❌") and summary.count("**FAIL**") == 3


def test_slices_per_class_and_confusion_matrix(tmp_path):
    report = build(tmp_path, {OVERALL: (0.95, None), DREAM: (0.9, None), BISCOE: (1.0, None)},
                   blessed=1)
    by_column = dict(report.evaluation.slices_by_column())
    assert [s.slice for s in by_column[""]] == ["Overall"]
    assert [s.slice for s in by_column["island"]] == ["island = Biscoe", "island = Dream"]
    dream = next(s for s in by_column["island"] if s.slice == "island = Dream")
    assert dream.example_count == 12 and dream.few_examples  # 12 < MIN_SLICE_EXAMPLES
    assert not by_column[""][0].few_examples
    assert [c.candidate["precision"] for c in report.evaluation.classes] == pytest.approx(
        [0.9, 0.8, 0.7])
    assert report.evaluation.confusion.counts[0] == [14, 0, 1]
    assert report.evaluation.confusion.counts[2] == [1, 0, 6]
    assert "few examples" in render.to_html(report)


def test_hostile_strings_are_escaped_in_html_and_markdown(tmp_path):
    hostile_slice = (("island", HOSTILE),)
    fx.write_statistics(str(tmp_path / "stats"), {f'<img src=x onerror="alert(2)">': [
        (HOSTILE, 30), ("Biscoe", 9)]})
    fx.write_anomalies(str(tmp_path / "anomalies"), {HOSTILE: f"values {HOSTILE} | **bold**"})
    report = build(tmp_path, {OVERALL: (0.95, None), hostile_slice: (0.5, None)}, blessed=0,
                   counts={hostile_slice: 30},
                   statistics=fx.artifact(str(tmp_path / "stats")),
                   anomalies=fx.artifact(str(tmp_path / "anomalies")))
    assert any(r.slice == f"island = {HOSTILE}" and not r.passed for r in report.evaluation.thresholds)
    assert report.data.anomalies[0].feature == HOSTILE
    page = render.to_html(report)
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    summary = render.to_markdown(report)
    assert "<script" not in summary and "&lt;script&gt;" in summary


def test_code_version_outside_a_git_checkout(tmp_path):
    version = model.code_version(str(tmp_path))
    assert version.sha is None and version.describe() == "not a git checkout"


@pytest.mark.parametrize("key, title", [(HTML_KEY, "system.HTML"), (MARKDOWN_KEY, "system.Markdown")])
def test_outputs_compile_to_the_types_kubeflow_renders(key, title):
    kind = ReportSpec.OUTPUTS[key].type
    schema = compiler_utils.get_artifact_schema(kind)
    assert yaml.safe_load(schema)["title"] == title
    # The TFX container imports the class back from that title at run time.
    spec = compiler_utils.build_output_artifact_spec(types.Channel(type=kind))
    path = kubeflow_v2_entrypoint_utils._retrieve_class_path(spec.artifact_type)
    assert import_utils.import_class_by_path(path) is kind


def test_drift_between_two_spans_with_and_without_thresholds():
    from components.lib import drift
    from tests.conftest import SCHEMA, span_file
    from tfx.utils import io_utils

    schema = io_utils.SchemaReader().read(SCHEMA)
    span2, span3 = drift.csv_statistics([span_file(2)]), drift.csv_statistics([span_file(3)])
    measured = report_data.measure_drift(span3, span2, schema, "train", skip=["year"])
    assert {r.feature for r in measured} == {"bill_length_mm", "bill_depth_mm", "body_mass_g",
                                             "flipper_length_mm", "island", "sex", "species"}
    assert all(r.threshold is None and not r.flagged and 0 < r.value < 1 for r in measured)
    assert {r.measure for r in measured if r.feature == "island"} == {"L-infinity"}
    strict = report_data.measure_drift(span3, span2, schema, "train", (0.01, 0.01), skip=["year"])
    assert [r.value for r in strict] == pytest.approx([r.value for r in measured])
    assert [r.flagged for r in strict] == [r.value > 0.01 for r in strict]
    assert any(r.flagged for r in strict) and all(r.threshold == 0.01 for r in strict)
    same = report_data.measure_drift(span2, span2, schema, "train", (0.01, 0.01), skip=["year"])
    assert len(same) == 7 and all(r.value == pytest.approx(0) and not r.flagged for r in same)


# (actual, predicted): residuals -2, 0, +1, +1, +4
REGRESSION_PAIRS = [(10.0, 8.0), (20.0, 20.0), (30.0, 31.0), (40.0, 41.0), (50.0, 54.0)]


def regression_report(tmp_path, blessed: int = 1) -> model.Report:
    fx.write_regression_evaluation(str(tmp_path / "evaluation"), REGRESSION_PAIRS)
    return model.build(model.Sources(
        run_id="run-1", run_time="2026-01-01 00:00:00 UTC", label="duration_min",
        evaluation=fx.artifact(str(tmp_path / "evaluation")),
        blessing=fx.artifact(str(tmp_path / "blessing"), blessed=blessed),
        pushed_model=fx.artifact(str(tmp_path / "pushed"), pushed=blessed, pushed_version="1")))


def test_a_regression_reports_its_errors_against_the_bound_and_its_residuals(tmp_path):
    report = regression_report(tmp_path)
    (row,) = report.evaluation.thresholds
    assert (row.metric, row.kind, row.threshold, row.passed) == (
        "mean_absolute_error", "value", "<= 6", True)
    assert row.candidate == pytest.approx(8 / 5)
    assert report.evaluation.slices[0].candidate["mean_squared_error"] == pytest.approx(22 / 5)
    assert report.evaluation.classes == [] and report.evaluation.confusion is None
    view = report.evaluation.regression
    assert view.pairs == REGRESSION_PAIRS
    assert view.mean_residual == pytest.approx(4 / 5)
    assert sum(count for _, count in view.residual_bars) == len(REGRESSION_PAIRS)
    assert view.residual_bars[0][0].startswith("-2 to ") and view.residual_bars[-1][0].endswith(" to 4")
    page = render.to_html(report)
    assert page.count("<circle") == len(REGRESSION_PAIRS)
    assert "Predicted against actual" in page and "Mean residual (predicted − actual): +0.8" in page
