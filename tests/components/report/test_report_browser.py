"""The rendered report in a real browser (headless Chromium), with the network blocked:
hostile strings from data show as text and run nothing."""
from __future__ import annotations

import os

import pytest

from components.report import render
from tests.components.report.report_fixtures import artifact, write_anomalies, write_statistics
from tests.components.report.test_report_model import BISCOE, HOSTILE, OVERALL, build


def test_hostile_strings_show_as_text_and_run_nothing(browser, tmp_path, artifacts):
    hostile_feature = '<img src=x onerror="alert(2)">'
    write_statistics(str(tmp_path / "stats"), {hostile_feature: [(HOSTILE, 30), ("Biscoe", 9)]})
    write_anomalies(str(tmp_path / "anomalies"), {HOSTILE: f"unexpected value {HOSTILE}"})
    hostile_slice = (("island", HOSTILE),)
    report = build(tmp_path, {OVERALL: (0.95, None), hostile_slice: (0.5, None),
                              BISCOE: (1.0, None)}, blessed=0, counts={hostile_slice: 30},
                   statistics=artifact(str(tmp_path / "stats")),
                   anomalies=artifact(str(tmp_path / "anomalies")))
    page = os.path.join(artifacts, "report_hostile.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(render.to_html(report))
    browser.open(page)
    text = browser.evaluate("document.body.innerText")
    assert f"island = {HOSTILE}" in text          # the slice key, as text
    assert hostile_feature in text                  # the feature name
    assert f"unexpected value {HOSTILE}" in text    # the anomaly description
    assert browser.evaluate("document.scripts.length") == 0
    assert browser.evaluate("document.images.length") == 0
    assert browser.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert browser.log.dialogs == []
    assert browser.log.errors == []
    assert browser.log.requests == ["file://" + page]


def test_the_regression_view_renders_its_plots(browser, tmp_path, artifacts):
    from tests.components.report.test_report_model import REGRESSION_PAIRS, regression_report

    page = os.path.join(artifacts, "report_regression.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(render.to_html(regression_report(tmp_path)))
    browser.open(page)
    assert browser.evaluate("document.querySelectorAll('svg.scatter circle').length") == len(
        REGRESSION_PAIRS)
    # The dots lie inside the plot, and the histogram has a bar per bucket with a count.
    inside = browser.evaluate(
        "Array.from(document.querySelectorAll('svg.scatter circle')).every(c => {"
        " const r = c.getBoundingClientRect(), s = c.ownerSVGElement.getBoundingClientRect();"
        " return r.left >= s.left && r.right <= s.right && r.top >= s.top && r.bottom <= s.bottom; })")
    assert inside is True
    assert browser.evaluate("document.querySelectorAll('div.regression svg.bars rect').length") > 0
    assert "Residuals, predicted − actual: -2 to 4" in browser.evaluate("document.body.innerText")
    assert browser.screenshot(os.path.join(artifacts, "report_regression.png")) > 0
    assert browser.log.errors == [] and browser.log.dialogs == []
    assert browser.log.requests == ["file://" + page]


# Injected from DevTools after the page loaded: a script, an image and a stylesheet, each of
# which the page's Content-Security-Policy must refuse (the report itself has none of them).
# It answers once the image and the stylesheet have failed to load (or loaded).
INJECT = """new Promise(resolve => {
  const refused = [];
  document.addEventListener('securitypolicyviolation', e => refused.push(e.effectiveDirective));
  const script = document.createElement('script');
  script.textContent = 'window.injectedScriptRan = true;';
  document.body.appendChild(script);
  const settled = el => new Promise(done => { el.onload = el.onerror = done; });
  const img = document.createElement('img');
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  const loads = [settled(img), settled(link)];
  img.src = PAGE;
  link.href = PAGE;
  document.body.appendChild(img);
  document.head.appendChild(link);
  Promise.all(loads).then(() => setTimeout(() => resolve(
    {ran: window.injectedScriptRan === true, refused: refused.sort()}), 0));
})"""


def test_the_content_security_policy_refuses_scripts_and_loads(browser, tmp_path):
    from tests.components.report.test_report_model import regression_report

    page = str(tmp_path / "report.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(render.to_html(regression_report(tmp_path)))
    browser.open(page)
    seen = browser.evaluate(INJECT.replace("PAGE", repr("file://" + page)))
    assert seen == {"ran": False, "refused": ["img-src", "script-src-elem", "style-src-elem"]}


def test_hostile_config_strings_show_as_text(browser, tmp_path):
    """The title (from the config), the run ID and the label come from outside the data:
    escaped too. (The label is not shown; it names the model's class asset.)"""
    from components.report import model
    from tests.components.report import report_fixtures as fx

    label, run_id = '"><svg onload=alert(3)>', "run-<b>1</b>"
    title = "<img src=x onerror=alert(4)> review"
    fx.write_evaluation(str(tmp_path / "evaluation"), {OVERALL: (0.95, None)}, counts={OVERALL: 40})
    report = model.build(model.Sources(
        run_id=run_id, run_time="2026-01-01 00:00:00 UTC", label=label,
        evaluation=fx.artifact(str(tmp_path / "evaluation")),
        blessing=fx.artifact(str(tmp_path / "blessing"), blessed=1),
        pushed_model=fx.artifact(str(tmp_path / "pushed"), pushed=1, pushed_version="3")),
        title=title)
    html = render.to_html(report)
    assert run_id not in html and label not in html and title not in html
    assert "run-&lt;b&gt;1&lt;/b&gt;" in html and "&lt;img src=x onerror=alert(4)&gt;" in html
    page = str(tmp_path / "hostile_config.html")
    with open(page, "w", encoding="utf-8") as f:
        f.write(html)
    browser.open(page)
    text = browser.evaluate("document.body.innerText")
    assert run_id in text and title in text  # shown as text
    assert browser.evaluate("document.querySelectorAll('[onload], [onerror], b').length") == 0
    assert browser.evaluate("document.images.length") == 0
    assert title in browser.evaluate("document.title")
    assert browser.log.dialogs == [] and browser.log.errors == []
    assert browser.log.requests == ["file://" + page]
