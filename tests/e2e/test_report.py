"""The reviewer report of real runs: written by the Report component and by ``run``, read in
headless Chromium with the network blocked, and rebuilt for a run the gate stopped."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from components.report import component as report_component
from components.drift_check import load_report
from pipeline.metadata import mlmd
from tests.conftest import DATA, ROOT
from tests.e2e.helpers import STEPS, cli, nodes_of, run_id_of

pytestmark = pytest.mark.e2e
HOSTILE = "<script>alert(1)</script>"


def report_path_of(output: str) -> str:
    return os.path.join(ROOT, re.search(r"^  Report: (\S+\.html)$", output, re.M).group(1))


def test_run_ends_with_the_report_path(first_run, output_root):
    last = first_run.stdout.rstrip().splitlines()[-2:]
    assert last[0].startswith("  Report: ") and last[1].startswith("  Summary: ")
    path = report_path_of(first_run.stdout)
    assert path == os.path.join(output_root, "reports", f"{run_id_of(first_run.stdout)}.html")
    summary = open(path[:-len(".html")] + ".md", encoding="utf-8").read()
    assert summary.startswith("## ✅") and "Blessed, pushed as version 1" in summary


def test_report_component_writes_html_and_markdown_files(first_run, output_root):
    with mlmd.open_store(os.path.join(output_root, "metadata.sqlite")) as store:
        nodes = mlmd.run_nodes(store, run_id_of(first_run.stdout))
    node = nodes[report_component.COMPONENT_ID]
    assert node.state == "COMPLETE"
    (html,) = node.outputs[report_component.HTML_KEY]
    (markdown,) = node.outputs[report_component.MARKDOWN_KEY]
    assert os.path.isfile(html.uri) and os.path.isfile(markdown.uri)  # the URI is the file
    page = open(html.uri, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>") and "Blessed" in page
    assert mlmd.prop(html, "verdict") == "Blessed"
    assert mlmd.prop(html, "user") and mlmd.prop(html, "host")
    sha = mlmd.prop(html, "git_sha")
    assert re.fullmatch(r"[0-9a-f]{40}", sha)
    # A commit of this checkout (HEAD may have moved on since the run).
    assert subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT).returncode == 0
    assert sha[:12] in page
    # Both the component and `run` read the same artifacts: the same threshold table.
    table = re.compile(r'<table class="thresholds">.*?</table>', re.S)
    run_page = open(report_path_of(first_run.stdout), encoding="utf-8").read()
    assert table.search(page).group(0) == table.search(run_page).group(0)


def test_report_reads_in_a_browser_offline(first_run, browser, artifacts):
    path = report_path_of(first_run.stdout)
    browser.open(path)
    verdict = browser.evaluate("document.querySelector('#verdict .verdict').innerText")
    assert "Blessed" in verdict and "pushed as version 1" in verdict
    assert browser.evaluate("document.querySelectorAll('table.thresholds tbody tr').length") == 6
    assert browser.evaluate("document.querySelectorAll('table.slices').length") >= 2
    assert browser.evaluate("document.querySelector('table.slices').innerText").count(
        "Overall") == 1
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.log.errors == [] and browser.log.dialogs == []
    # The page's one request is the file itself: no stylesheet, image or font besides it.
    assert browser.log.requests == ["file://" + path]
    # Fits 1280 px: nothing wider than the window.
    assert browser.evaluate("document.documentElement.scrollWidth") <= 1280
    screen = os.path.join(artifacts, "report_1280.png")
    printed = os.path.join(artifacts, "report_print.png")
    assert browser.screenshot(screen, width=1280) > 900
    assert browser.screenshot(printed, width=794, media="print") > 900  # A4 at 96 dpi
    assert os.path.getsize(screen) > 10_000 and os.path.getsize(printed) > 10_000


def test_report_of_a_run_stopped_at_the_gate(first_run, output_root, tmp_path, browser):
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    rows = open(os.path.join(DATA, "span-3", "penguins.csv")).read().splitlines()
    rows[1] = f"Adelie,{HOSTILE},39.1,18.7,181,3750,male,2009"
    (data / "span-4").mkdir()
    (data / "span-4" / "penguins.csv").write_text("\n".join(rows) + "\n")
    stopped = cli("run", *STEPS, "--output-root", output_root, "--data", str(data))
    assert stopped.returncode == 1
    run_id = run_id_of(stopped.stdout)
    assert report_path_of(stopped.stdout).endswith(f"{run_id}.html")

    out = str(tmp_path / "stopped.html")
    result = cli("report", "--output-root", output_root, "--run", run_id, "--output", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Stopped at ExampleValidator: data does not match the schema")
    page = open(out, encoding="utf-8").read()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and HOSTILE not in page
    browser.open(out)
    verdict = browser.evaluate("document.querySelector('#verdict .verdict').innerText")
    assert "Stopped at ExampleValidator" in verdict and "island" in verdict
    data = browser.evaluate("document.querySelector('#data').innerText")
    assert HOSTILE in data
    # Drift against span 3 (the first run's): DriftCheck runs beside the gate, so whether it
    # finished before the gate stopped the run varies; ML Metadata says which, and the
    # report must say the same.
    drift_check = nodes_of(output_root, run_id).get("DriftCheck")
    if drift_check is not None and drift_check.state == "COMPLETE":
        recorded = load_report(drift_check.outputs["drift"][0].uri)
        assert recorded["spans"] == [4] and recorded["previous_spans"] == [3]
        assert "Training data of span(s) 4 against span(s) 3 (DriftCheck" in data
    else:
        assert "DriftCheck did not run: measured for this report against span 3's statistics" in data
    assert "Jensen-Shannon" in data and "L-infinity" in data
    assert browser.log.dialogs == [] and browser.log.errors == []
    markdown = open(out[:-len(".html")] + ".md", encoding="utf-8").read()
    assert markdown.startswith("## ❌") and HOSTILE not in markdown


def test_report_command_defaults_to_the_latest_run_and_rejects_unknown_runs(first_run,
                                                                              output_root):
    latest = cli("report", "--output-root", output_root)
    assert latest.returncode == 0, latest.stderr
    assert re.search(r"^Report: \S+\.html \([\d,]+ bytes\)$", latest.stdout, re.M)
    unknown = cli("report", "--output-root", output_root, "--run", "no-such-run")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines()[-1] == (
        f"Error: {os.path.join(output_root, 'metadata.sqlite')}: no run 'no-such-run'")
