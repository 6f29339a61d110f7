"""``run`` (the local Beam run, one span, a window or watching for new spans) and
``infer-schema`` (a starting schema for a new dataset)."""
from __future__ import annotations

import sys
from typing import Optional

import click

from pipeline.cli import abspath, load_config
from pipeline.cli import ct as cli_ct
from pipeline.cli import report as cli_report


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: config.yaml in the project).")
@click.option("--data", type=click.Path(), help="A folder of spans (overrides data.root).")
@click.option("--span", type=int, help="Span number to train on (default: the latest).")
@click.option("--output-root", type=click.Path(),
              help="Where the pipeline root, ML Metadata and pushed models go.")
@click.option("--train-steps", type=int, help="Overrides trainer.train_steps.")
@click.option("--wait", is_flag=True,
              help="If another run is using the output root, wait for it instead of refusing.")
@click.option("--window", type=int, help="Train on the last K spans up to the span (data.window).")
@click.option("--span-range", help="Train on spans A to B, e.g. 1-3 (sets span and window).")
@click.option("--watch", is_flag=True, help="Poll the data root; run whenever a new span appears.")
@click.option("--interval", type=float, default=60.0, show_default=True,
              help="With --watch: seconds between polls (0: check once, e.g. from cron).")
@click.option("--max-runs", type=int, help="With --watch: stop after this many runs.")
@click.option("--beam-profile", help="The Beam profile of the components' jobs (beam.profile), "
                                    "e.g. flink-local after `make flink-up`.")
@click.option("--recheck", is_flag=True,
              help="Run even if nothing changed since the last successful run (TFX then finds "
                   "every component in its cache).")
def run(config_path: Optional[str], data: Optional[str], span: Optional[int],
        output_root: Optional[str], train_steps: Optional[int], wait: bool,
        window: Optional[int], span_range: Optional[str], watch: bool, interval: float,
        max_runs: Optional[int], recheck: bool, beam_profile: Optional[str]) -> None:
    """Run the whole pipeline locally under Apache Beam."""
    cfg = load_config(config_path, {"data.root": abspath(data), "output_root": abspath(output_root),
                                    "trainer.train_steps": train_steps, "beam.profile": beam_profile,
                                    **cli_ct.span_overrides(span, span_range, window)})
    from components.lib import spans
    from pipeline.local import lock, preflight, uptodate

    try:  # settings that only fail against the schema or the disk fail now, not mid-run
        preflight.check(cfg)
        chosen = spans.resolve_span(cfg.data.root, cfg.data.span_pattern, cfg.data.span)
    except (preflight.PreflightError, spans.SpanError) as e:
        raise click.ClickException(str(e)) from None
    cli_ct.check_range(cfg, span_range, chosen)
    try:
        with lock.output_root_lock(cfg.output_root, wait=wait, on_wait=lambda pid: click.echo(
                f"Waiting for the run using {cfg.output_root} (pid {pid}) to end ...")):
            if watch:
                sys.exit(cli_ct.watch_and_run(cfg, interval, max_runs))
            click.echo(f"Running {cfg.pipeline_name} on {cli_ct.describe_spans(cfg, chosen)} "
                       f"of {cfg.data.root}")
            click.echo(f"Output root: {cfg.output_root}")
            previous = None if recheck else uptodate.unchanged_since(cfg, chosen)
            if previous is not None:
                for line in _unchanged_lines(previous):
                    click.echo(line)
                return
            uptodate.forget(cfg)
            from pipeline.local import runner  # heavy imports (TensorFlow) only when running

            result = runner.run(cfg, chosen)
            outcome = runner.outcome_lines(result) + cli_report.report_lines(cfg, result.run_id)
            click.echo("")
            for line in runner.table_lines(result) + [""] + outcome:
                click.echo(line)
            if result.ok:
                uptodate.remember(cfg, chosen, result.run_id, outcome)
    except lock.LockBusy as e:
        raise click.ClickException(str(e)) from None
    if not result.ok:
        sys.exit(1)


def _unchanged_lines(previous: dict) -> list:
    return ["", f"Nothing changed since run {previous['run_id']} on span {previous['span']}: "
            "config, code, data, schema, served models, ML Metadata and libraries are as it "
            "left them, so every component would be a cache hit. Nothing was run "
            "(--recheck runs it anyway). That run's outcome:", "", *previous["outcome"]]


@click.command("infer-schema")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="A CSV file, or a folder searched for *.csv files.")
@click.option("--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the schema (text proto).")
@click.option("--label", default=None,
              help="The label column: marked absent at serving, and its task proposed.")
def infer_schema(data: str, output: str, label: Optional[str]) -> None:
    """Write a starting schema.pbtxt for a new dataset, for a person to curate."""
    from pipeline.ops import schema_infer

    try:
        schema, proposal = schema_infer.infer(data, label)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    schema_infer.write(schema, output)
    click.echo(f"Wrote {output} ({len(schema.feature)} features). Review the types, domains "
               "and presence" + ("." if label else
                                 ", and mark the label not_in_environment: SERVING (or pass "
                                 "--label to have it marked and its task proposed)."))
    for line in proposal:
        click.echo(line)


def register(main: click.Group) -> None:
    main.add_command(run)
    main.add_command(infer_schema)
