"""The report model as one self-contained HTML page and as a short Markdown summary.

Every value is escaped unless it was built here: :func:`tag` escapes each child and
attribute that is not already :class:`Safe`, so a feature named ``<script>`` is text.
The page loads nothing: CSS is inline, plots are inline SVG, there is no script.
"""
from __future__ import annotations

import html
from typing import List, Optional, Tuple, Union

from components.report.markup import (
    Child, Safe, badge, bars_svg, count, fmt, scatter_svg, signed, table, tag)
from components.report.model import (
    MIN_SLICE_EXAMPLES, Data, Evaluation, FeatureSummary, Regression, Report, SliceMetrics)


def regression_view(view: Regression) -> Safe:
    """Predicted against actual, and the residuals' histogram: the candidate, overall."""
    if not view.pairs:
        return tag("p", "No predictions recorded for the plots.", class_="muted")
    caption = (f"{len(view.pairs)} eval examples (all of them, or a fixed sample of that many). "
               f"Mean residual (predicted − actual): {view.mean_residual:+.4g}; above 0 the "
               "model overestimates on average.")
    return Safe(tag("h3", "Predicted against actual (candidate, overall)")
                + tag("p", caption, class_="muted")
                + tag("div", scatter_svg(view.pairs),
                      tag("figure", bars_svg(view.residual_bars, "residuals (predicted − actual)",
                                             width=420, height=120),
                          tag("figcaption", "Residuals, predicted − actual: "
                                            f"{view.residual_bars[0][0].split(' to ')[0]} to "
                                            f"{view.residual_bars[-1][0].split(' to ')[-1]}")),
                      class_="regression"))


def confusion_table(classes: List[str], counts: List[List[float]]) -> Safe:
    """Rows are actual classes, columns predicted; cells shaded by their share of the row."""
    head = [Safe("actual \\ predicted")] + classes + ["total"]
    rows = []
    for name, row in zip(classes, counts):
        total = sum(row) or 1
        cells: List[Child] = [tag("strong", name)]
        for j, value in enumerate(row):
            share = value / total
            cells.append(tag("span", count(value), class_="cell",
                             style=f"--share:{share:.3f}",
                             title=f"{share:.0%} of actual {name}"))
        cells.append(count(sum(row)))
        rows.append((cells, None))
    return table(head, rows, class_="confusion")


# ----------------------------------------------------------------------------- sections

def verdict_section(report: Report) -> Safe:
    v = report.verdict
    evaluation = report.evaluation
    failed = evaluation.failed_thresholds if evaluation else []
    ok = v.passed and not failed
    lines: List[Child] = [tag("p", tag("strong", v.headline), " · ", v.push, class_="headline")]
    if failed:
        lines.append(tag("p", f"{len(failed)} threshold(s) failed:"))
        lines.append(tag("ul", [tag("li", f"{r.metric} on {r.slice}: {fmt(r.candidate)} "
                                          f"({r.kind} threshold {r.threshold})") for r in failed]))
    banner = tag("div", lines, class_=f"verdict {'pass' if ok else 'fail'}", role="status")
    parts: List[Child] = [tag("h2", "1. Verdict"), banner]
    if evaluation is None:
        parts.append(tag("p", "No evaluation: the run did not reach the Evaluator.", class_="muted"))
        return tag("section", parts, id="verdict")
    parts.append(threshold_table(evaluation))
    return tag("section", parts, id="verdict")


def threshold_table(evaluation: Evaluation) -> Safe:
    base = evaluation.has_baseline
    head: List[Child] = ["metric", "slice", "kind", "candidate"]
    head += ["baseline", "difference"] if base else []
    head += ["threshold", "result"]
    rows = []
    for r in evaluation.thresholds:
        cells: List[Child] = [r.metric, r.slice, r.kind, fmt(r.candidate)]
        if base:
            cells += [fmt(r.baseline), signed(r.difference)]
        cells += [r.threshold, badge("✔ pass", "pass") if r.passed else badge("✘ FAIL", "fail")]
        rows.append((cells, None if r.passed else "failed"))
    note = ("" if base else "No baseline: no model was serving, so only value thresholds apply.")
    return Safe(tag("h3", "Thresholds") + (tag("p", note, class_="muted") if note else "")
                + table(head, rows, class_="thresholds"))


def _metric_cells(s: SliceMetrics, names: List[str], base: bool) -> List[Child]:
    cells: List[Child] = []
    for name in names:
        cand = s.candidate.get(name)
        cells.append(fmt(cand))
        if base:
            old = s.baseline.get(name)
            cells += [fmt(old), signed(cand - old if None not in (cand, old) else None)]
    return cells


def metrics_section(report: Report) -> Safe:
    parts: List[Child] = [tag("h2", "2. Metrics")]
    evaluation = report.evaluation
    if evaluation is None:
        parts.append(tag("p", "No metrics: the run did not reach the Evaluator.", class_="muted"))
        return tag("section", parts, id="metrics")
    base = evaluation.has_baseline
    names = [n for n in evaluation.metric_names if n != "example_count"]
    head: List[Child] = ["slice", "examples"]
    for n in names:
        head += [n, f"{n} (baseline)", "Δ"] if base else [n]
    for column, slices in evaluation.slices_by_column():
        rows = []
        for s in slices:
            flag = [" ", badge("few examples", "warn")] if s.few_examples else []
            rows.append(([[s.slice, *flag], count(s.example_count)] + _metric_cells(s, names, base),
                         "few" if s.few_examples else None))
        parts.append(tag("h3", "Overall" if column == "" else f"By {column}"))
        parts.append(table(head, rows, class_="slices"))
    parts.append(tag("p", f"“few examples”: fewer than {MIN_SLICE_EXAMPLES} eval examples in the "
                          "slice; its metrics move a lot with a single example.", class_="muted"))
    if evaluation.classes:
        class_head: List[Child] = ["class", "precision", "recall"]
        if base:
            class_head = ["class", "precision", "precision (baseline)", "recall",
                          "recall (baseline)"]
        rows = []
        for c in evaluation.classes:
            if base:
                cells = [c.name, fmt(c.candidate.get("precision")), fmt(c.baseline.get("precision")),
                         fmt(c.candidate.get("recall")), fmt(c.baseline.get("recall"))]
            else:
                cells = [c.name, fmt(c.candidate.get("precision")), fmt(c.candidate.get("recall"))]
            rows.append((cells, None))
        parts += [tag("h3", "Per class (overall)"), table(class_head, rows)]
    if evaluation.regression is not None:
        parts.append(regression_view(evaluation.regression))
    if evaluation.confusion is not None:
        parts += [tag("h3", "Confusion matrix (candidate, overall)"),
                  confusion_table(evaluation.confusion.classes, evaluation.confusion.counts)]
    return tag("section", parts, id="metrics")


def _feature_row(f: FeatureSummary) -> Tuple[List[Child], Optional[str]]:
    stats = ", ".join(f"{k} {v}" for k, v in f.stats.items())
    what = "histogram" if f.kind == "numeric" else "top values"
    missing = f"{f.missing} ({f.missing_fraction:.1%})" if f.missing else "0"
    return ([tag("code", f.name), f.kind, missing, stats,
             bars_svg(f.bars, f"{f.name} {what}")], "missing" if f.missing else None)


def data_section(data: Data) -> Safe:
    parts: List[Child] = [tag("h2", "3. Data")]
    if data.span is not None:
        parts.append(tag("p", f"Span {data.span}."))
    if not data.splits:
        parts.append(tag("p", "No statistics for this run.", class_="muted"))
    for split in data.splits:
        parts.append(tag("h3", f"Split {split.name}: {split.examples:,} examples"))
        parts.append(table(["feature", "type", "missing", "summary", "distribution"],
                           [_feature_row(f) for f in split.features], class_="features"))
    parts.append(tag("h3", "Anomalies"))
    if data.anomalies:
        parts.append(table(["split", "feature", "anomaly"],
                           [([a.split, tag("code", a.feature), a.description], "failed")
                            for a in data.anomalies]))
    else:
        parts.append(tag("p", "None found against the schema." if data.splits
                     else "Not checked.", class_="muted"))
    parts.append(tag("h3", "Drift from the previous span"))
    parts.append(tag("p", data.drift_note, class_="muted"))
    if data.drift:
        rows = []
        for d in data.drift:
            result = badge("drift", "fail") if d.flagged else (
                badge("ok", "pass") if d.threshold is not None else "")
            rows.append(([d.split, tag("code", d.feature), d.measure, f"{d.value:.3f}",
                          "–" if d.threshold is None else f"{d.threshold:g}", result],
                         "failed" if d.flagged else None))
        parts.append(table(["split", "feature", "measure", "distance", "threshold", ""], rows))
    return tag("section", parts, id="data")


def lineage_section(report: Report) -> Safe:
    rows = [tag("tr", tag("th", what, scope="row"), tag("td", tag("code", value)))
            for what, value in report.lineage.rows]
    body = tag("table", tag("tbody", rows), class_="lineage")
    return tag("section", tag("h2", "4. Lineage"), body, id="lineage")


CSS = """
:root { --ok:#0f6b2f; --ok-bg:#e3f4e8; --bad:#a4161a; --bad-bg:#fde7e7; --warn:#8a5300;
        --warn-bg:#fff3d6; --line:#d9dde3; --muted:#5b6472; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d232b; background: #f5f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
header h1 { margin: 0 0 4px; font-size: 26px; }
h2 { margin: 32px 0 10px; font-size: 21px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin: 20px 0 8px; font-size: 16px; }
.muted { color: var(--muted); }
code { font: 13px/1.3 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: middle; }
thead th { background: #eef0f3; font-weight: 600; white-space: nowrap; }
td { font-variant-numeric: tabular-nums; }
tr.failed td { background: var(--bad-bg); }
tr.few td { background: var(--warn-bg); }
.verdict { border-radius: 8px; padding: 14px 18px; border: 3px solid; }
.verdict.pass { background: var(--ok-bg); border-color: var(--ok); color: var(--ok); }
.verdict.fail { background: var(--bad-bg); border-color: var(--bad); color: var(--bad); }
.verdict .headline { font-size: 22px; margin: 0; }
.verdict ul { margin: 6px 0 0; }
.badge { display: inline-block; border-radius: 4px; padding: 1px 7px; font-size: 12px;
         font-weight: 700; white-space: nowrap; }
.badge.pass { background: var(--ok-bg); color: var(--ok); border: 1px solid var(--ok); }
.badge.fail { background: var(--bad); color: #fff; }
.badge.warn { background: var(--warn-bg); color: var(--warn); border: 1px solid var(--warn); }
svg.bars rect { fill: #4a78b5; }
table.features td:nth-child(4) { font-size: 13px; color: #333; }
table.features td:first-child code { overflow-wrap: normal; white-space: nowrap; }
table.confusion { width: auto; }
table.confusion td { text-align: right; min-width: 90px; }
table.confusion .cell { display: block; padding: 2px 6px; border-radius: 3px;
  background: rgba(74, 120, 181, calc(var(--share) * 0.85)); }
div.regression { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-end; }
svg.scatter circle { fill: #4a78b5; fill-opacity: 0.6; }
svg.scatter line.axis { stroke: #5b6472; }
svg.scatter line.diagonal { stroke: #a4161a; stroke-dasharray: 5 4; }
svg.scatter text { font-size: 11px; fill: #5b6472; }
figure { margin: 0; }
figcaption { font-size: 13px; color: var(--muted); }
table.lineage th { width: 190px; background: #f7f8fa; font-weight: 600; }
footer { margin-top: 36px; color: var(--muted); font-size: 13px; }
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  section { break-inside: auto; }
  h2, h3 { break-after: avoid; }
  tr, .verdict, svg { break-inside: avoid; }
  .verdict, tr.failed td, tr.few td, .badge, table.confusion .cell, thead th, svg.bars rect {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { margin: 14mm; }
}
"""


def to_html(report: Report) -> str:
    head = tag("head", Safe('<meta charset="utf-8">'),
               Safe('<meta name="viewport" content="width=device-width, initial-scale=1">'),
               # Nothing may load: no scripts at all, styles and images inline only.
               Safe('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                    'style-src \'unsafe-inline\'; img-src data:">'),
               tag("title", f"{report.title}: {report.verdict.headline}"),
               tag("style", Safe(CSS)))
    run = dict(report.lineage.rows).get("Run", "")
    header = tag("header", tag("h1", report.title),
                 tag("p", f"Run {run} · report written {report.generated}", class_="muted"))
    body = tag("body", tag("main", header, verdict_section(report), metrics_section(report),
                           data_section(report.data), lineage_section(report),
                           tag("footer", "Self-contained report: no scripts, nothing loaded "
                                         "from the network.")))
    return "<!DOCTYPE html>\n" + tag("html", head, body, lang="en") + "\n"


# ----------------------------------------------------------------------------- Markdown

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]|#"})


def md(value: Optional[Union[str, float, int]]) -> str:
    """Text safe inside Markdown tables: no HTML, no formatting, no pipes, one line."""
    text = html.escape(str(value if value is not None else "–"), quote=False)
    return " ".join(text.translate(_MD_SPECIAL).split())


def to_markdown(report: Report, html_path: Optional[str] = None) -> str:
    v = report.verdict
    evaluation = report.evaluation
    failed = evaluation.failed_thresholds if evaluation else []
    mark = "✅" if v.passed and not failed else "❌"
    lines = [f"## {mark} {md(report.title)}: {md(v.headline)}, {md(v.push)}", ""]
    if evaluation is not None:
        base = evaluation.has_baseline
        head = ["metric", "slice", "candidate"] + (["baseline", "difference"] if base else []) + [
            "threshold", "result"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        rows = failed + [r for r in evaluation.thresholds if r.passed and r.slice == "Overall"]
        for r in rows:
            cells = [md(r.metric), md(r.slice), fmt(r.candidate)]
            cells += [fmt(r.baseline), signed(r.difference)] if base else []
            cells += [md(r.threshold), "pass" if r.passed else "**FAIL**"]
            lines.append("| " + " | ".join(cells) + " |")
        passed_elsewhere = sum(1 for r in evaluation.thresholds if r.passed and r.slice != "Overall")
        if passed_elsewhere:
            lines += ["", f"{passed_elsewhere} more slice threshold(s) passed (see the HTML report)."]
        few = [s.slice for s in evaluation.slices if s.few_examples]
        if few:
            lines += ["", f"Few examples (< {MIN_SLICE_EXAMPLES}): " + ", ".join(md(s) for s in few)]
        lines.append("")
    data = report.data
    counts = ", ".join(f"{md(s.name)} {s.examples}" for s in data.splits)
    lines.append(f"- Data: span {md(data.span)}; examples: {counts or 'none'}; "
                 f"anomalies: {len(data.anomalies)}; "
                 f"drift flagged: {sum(1 for d in data.drift if d.flagged)}")
    for what, value in report.lineage.rows:
        if what in ("Run", "Code version", "Config hash", "Model", "Pushed to", "Ran by"):
            lines.append(f"- {md(what)}: {md(value)}")
    if html_path:
        lines.append(f"- Full report: {md(html_path)}")
    return "\n".join(lines) + "\n"
