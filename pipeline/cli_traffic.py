"""The ``traffic`` commands: what the model server logged, turned into the next span."""
from __future__ import annotations

import os
from typing import Optional

import click

from pipeline import config as config_lib


@click.group()
def traffic() -> None:
    """The prediction log and ground truth the model server keeps."""


@traffic.command("to-span")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: config.yaml in the project).")
@click.option("--output-root", type=click.Path(),
              help="Where the serving folder is (overrides output_root).")
@click.option("--traffic", "serving_root", type=click.Path(file_okay=False),
              help="The folder of the prediction log and ground_truth.jsonl "
                   "(default: <output_root>/serving).")
@click.option("--data", type=click.Path(file_okay=False),
              help="The folder of spans to add to (overrides data.root).")
def to_span(config_path: Optional[str], output_root: Optional[str],
            serving_root: Optional[str], data: Optional[str]) -> None:
    """Write the labelled served rows as the next span (checked against the schema first)."""
    from pipeline.serving import to_span as to_span_lib

    try:
        cfg = config_lib.load(config_path, {
            "output_root": os.path.abspath(output_root) if output_root else None,
            "data.root": os.path.abspath(data) if data else None})
        done = to_span_lib.export(cfg, serving_root or cfg.serving_dir)
    except (config_lib.ConfigError, to_span_lib.SpanExportError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Wrote span {done.span}: {done.rows} labelled served rows in {done.path}")
    click.echo("`python -m pipeline run --watch` (or `run`) trains on it next.")
