"""Report: the reviewer's HTML page and Markdown summary, as the pipeline's last step.

The outputs are typed ``system.HTML`` and ``system.Markdown`` (see the ``system`` module):
the titles the Kubeflow Pipelines UI renders as a page and as text. Like a KFP
``Output[HTML]``, the artifact's URI is the file itself, not a folder.

Only build-time, stable values are execution parameters (config hash, label), so a rerun
with nothing changed is still fully cached. The code version, user and host are read
when the executor runs and recorded as custom properties of the HTML artifact.
"""
from __future__ import annotations

from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.drift_check import DriftReport
from components.report import model, render
from system import HTML, Markdown

COMPONENT_ID = "Report"
HTML_KEY = "html"
MARKDOWN_KEY = "markdown"


INPUT_TYPES = {
    "examples": standard_artifacts.Examples,
    "statistics": standard_artifacts.ExampleStatistics,
    "anomalies": standard_artifacts.ExampleAnomalies,
    "schema": standard_artifacts.Schema,
    "model": standard_artifacts.Model,
    "baseline_model": standard_artifacts.Model,
    "evaluation": standard_artifacts.ModelEvaluation,
    "blessing": standard_artifacts.ModelBlessing,
    "pushed_model": standard_artifacts.PushedModel,
}


class ReportSpec(types.ComponentSpec):
    PARAMETERS = {
        "title": ExecutionParameter(type=str),
        "label": ExecutionParameter(type=str),
        "config_digest": ExecutionParameter(type=str),
    }
    INPUTS = {**{key: ChannelParameter(type=kind) for key, kind in INPUT_TYPES.items()},
              # DriftCheck's drift.json; optional so a pipeline without DriftCheck still reports.
              "drift": ChannelParameter(type=DriftReport, optional=True)}
    OUTPUTS = {HTML_KEY: ChannelParameter(type=HTML), MARKDOWN_KEY: ChannelParameter(type=Markdown)}


def _write_file(uri: str, text: str) -> None:
    """Writes ``text`` at ``uri`` itself; the local launcher pre-creates it as a folder."""
    if fileio.isdir(uri):
        fileio.rmtree(uri)
    with fileio.open(uri, "w") as f:
        f.write(text)


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        code, user, host = model.runtime_facts()
        run_id = getattr(self._context, "pipeline_run_id", None) if self._context else None
        sources = model.Sources(run_id=run_id or "not known to the component", run_time=None,
                                label=exec_properties["label"],
                                config_digest=exec_properties["config_digest"],
                                code=code, user=user, host=host)
        for key in [*INPUT_TYPES, "drift"]:
            artifacts = input_dict.get(key) or []
            setattr(sources, key, artifacts[0].mlmd_artifact if artifacts else None)
        report = model.build(sources, title=exec_properties["title"])
        (html,) = output_dict[HTML_KEY]
        (markdown,) = output_dict[MARKDOWN_KEY]
        _write_file(html.uri, render.to_html(report))
        _write_file(markdown.uri, render.to_markdown(report, html.uri))
        html.set_string_custom_property("git_sha", code.sha or "unknown")
        html.set_string_custom_property("git_dirty", "true" if code.dirty else "false")
        html.set_string_custom_property("user", user)
        html.set_string_custom_property("host", host)
        html.set_string_custom_property("verdict", report.verdict.headline)


class Report(base_component.BaseComponent):
    """Writes the reviewer report of a run: verdict, metrics, data and lineage."""

    SPEC_CLASS = ReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, *, title: str, label: str, config_digest: str,
                 **inputs: types.BaseChannel):
        missing = sorted(set(INPUT_TYPES) - set(inputs))
        if missing:
            raise ValueError(f"Report needs inputs {', '.join(missing)}")
        super().__init__(spec=ReportSpec(
            title=title, label=label, config_digest=config_digest, **inputs,
            **{HTML_KEY: types.Channel(type=HTML), MARKDOWN_KEY: types.Channel(type=Markdown)}))
