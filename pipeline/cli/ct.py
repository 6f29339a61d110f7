"""Continuous training and monitoring commands: ``models``, ``rollback``, ``monitor``, and the
span-window and ``--watch`` parts of ``run``."""
from __future__ import annotations

import json
import re
import sys
from typing import Any, Dict, List, Optional

import click

from pipeline import config as config_lib
from pipeline.cli import config_option, load_with_root, output_root_option

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def span_overrides(span: Optional[int], span_range: Optional[str],
                   window: Optional[int]) -> Dict[str, Any]:
    """Config overrides for ``--span``, ``--span-range A-B`` and ``--window K``."""
    if span_range is None:
        return {"data.span": span, "data.window": window}
    if span is not None or window is not None:
        raise click.ClickException("--span-range: give it alone, not with --span or --window")
    match = _RANGE.match(span_range)
    if not match or int(match.group(1)) > int(match.group(2)):
        raise click.ClickException(f"--span-range: expected A-B with A <= B, e.g. 1-3, "
                                   f"got {span_range!r}")
    first, last = int(match.group(1)), int(match.group(2))
    return {"data.span": last, "data.window": last - first + 1}


def window_of(cfg: config_lib.Config, end: int) -> List[int]:
    """The spans a run ending at ``end`` reads: the last ``data.window`` with files, as the
    ExampleGen executor picks them."""
    from components.lib import spans

    return list(spans.window(cfg.data.root, cfg.data.span_pattern, end, cfg.data.window))


def check_range(cfg: config_lib.Config, span_range: Optional[str], end: int) -> None:
    """``--span-range A-B`` needs every span from A to B (a gap would reach below A)."""
    if span_range is None:
        return
    first = end - cfg.data.window + 1
    missing = sorted(set(range(first, end + 1)) - set(window_of(cfg, end)))
    if missing:
        raise click.ClickException(
            f"{cfg.data.root}: --span-range {first}-{end}: span(s) "
            f"{', '.join(map(str, missing))} have no files matching {cfg.data.span_pattern!r}")


def describe_spans(cfg: config_lib.Config, end: int) -> str:
    window = window_of(cfg, end)
    return f"span {end}" if len(window) <= 1 else f"spans {','.join(map(str, window))}"


def watch_and_run(cfg: config_lib.Config, interval: float, max_runs: Optional[int]) -> int:
    """The ``run --watch`` loop; returns the exit status (1 if any run failed)."""
    import dataclasses

    from pipeline.local import runner, watch

    def run_span(span: int) -> bool:
        run_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, span=span))
        click.echo(f"Running {cfg.pipeline_name} on {describe_spans(run_cfg, span)} "
                   f"of {cfg.data.root}")
        result = runner.run(run_cfg, span)
        click.echo("")
        for line in runner.summary_lines(result):
            click.echo(line)
        click.echo("")
        return result.ok

    failures = watch.watch(cfg, run_span, interval=interval, max_runs=max_runs, echo=click.echo)
    return 1 if failures else 0


@click.group(invoke_without_command=True)
@config_option
@output_root_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model instead of a table.")
@click.pass_context
def models(ctx: click.Context, config_path: Optional[str], output_root: Optional[str],
           as_json: bool) -> None:
    """List every trained model from ML Metadata; 'models show RUN_ID' gives its lineage."""
    cfg = load_with_root(config_path, output_root)
    ctx.obj = cfg
    if ctx.invoked_subcommand is not None:
        return
    from pipeline.metadata import catalog, mlmd

    try:
        with mlmd.open_store(cfg.metadata_path) as store:
            rows = catalog.list_models(store, cfg.serving_dir)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.to_dict(), sort_keys=True))
        return
    if not rows:
        click.echo(f"No trained model in {cfg.metadata_path}")
        return
    for line in catalog.table_lines(rows, cfg.serving_dir):
        click.echo(line)


@models.command("show")
@click.argument("ident", metavar="RUN_ID")
@config_option
@output_root_option
@click.pass_obj
def models_show(cfg: config_lib.Config, ident: str, config_path: Optional[str],
                output_root: Optional[str]) -> None:
    """The full lineage of one model: inputs and their producers, back to the raw files."""
    from pipeline.metadata import catalog, mlmd

    if config_path or output_root:  # also accepted after 'show'
        cfg = load_with_root(config_path, output_root)

    try:
        with mlmd.open_store(cfg.metadata_path) as store:
            row = catalog.find_model(catalog.list_models(store, cfg.serving_dir), ident)
            lines = catalog.lineage_lines(store, row)
    except (FileNotFoundError, catalog.CatalogError) as e:
        raise click.ClickException(str(e).strip("'\"")) from None
    versions = ", ".join(f"v{v}" for v in row.pushed_versions) or "none"
    lines += ["", f"Code: {row.git_sha}{' (dirty)' if row.git_dirty == 'true' else ''}; "
                  f"config {row.config_hash}; run by {row.user}@{row.host}",
              f"{row.metric}: {row.value}; blessed: {row.blessed}; pushed: {versions}"
              f"{' (serving)' if row.serving else ''}"]
    for line in lines:
        click.echo(line)


@click.command()
@config_option
@output_root_option
@click.option("--to", "to_version", type=int, help="Version to serve again (default: the one "
              "before the current one).")
@click.option("--reason", required=True, help="Why; recorded with your user name and host.")
def rollback(config_path: Optional[str], output_root: Optional[str], to_version: Optional[int],
             reason: str) -> None:
    """Serve an earlier pushed version again (copied in as the newest version)."""
    from pipeline.ops import rollback as rollback_lib

    cfg = load_with_root(config_path, output_root)
    try:
        done = rollback_lib.rollback(cfg, to_version, reason)
    except rollback_lib.RollbackError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Rolled back: version {done.new_version} (a copy of version {done.to_version}) "
               f"now serves instead of version {done.from_version}")
    click.echo(f"Recorded in {cfg.metadata_path} and {cfg.output_root}/rollbacks.log "
               f"({done.user}@{done.host}: {done.reason})")


@click.command()
@config_option
@output_root_option
@click.option("--data", type=click.Path(),
              help="A CSV file, or a folder searched for *.csv, instead of the prediction log.")
@click.option("--traffic", type=click.Path(file_okay=False),
              help="The folder of the prediction log (log/events.jsonl*) and "
                   "ground_truth.jsonl (default: <output_root>/serving).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Where to write the JSON report (a .md beside it); default under "
                   "<output_root>/monitoring/.")
def monitor(config_path: Optional[str], output_root: Optional[str], data: Optional[str],
            traffic: Optional[str], report_path: Optional[str]) -> None:
    """Compare served traffic (or a CSV batch) with the serving model's training data, and
    labelled traffic with the blessing thresholds; exit 1 when anything is flagged."""
    import os

    from pipeline.ops import monitor as monitor_lib

    if data and traffic:
        raise click.ClickException("--data and --traffic: give one of them")
    cfg = load_with_root(config_path, output_root)
    report_path = report_path or monitor_lib.default_report_path(cfg)
    try:
        result = (monitor_lib.monitor(cfg, data) if data else monitor_lib.monitor_traffic(
            cfg, traffic or cfg.serving_dir, os.path.splitext(report_path)[0] + "-tfma"))
    except (monitor_lib.MonitorError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    for line in monitor_lib.summary_lines(result):
        click.echo(line)
    written = monitor_lib.write_report(result, report_path)
    click.echo(f"Report: {written[0]} (and {written[1]})")
    if not result.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    for command in (models, rollback, monitor):
        main.add_command(command)
