"""The serving commands: ``serve``, ``label`` (ground truth) and ``traffic to-span``."""
from __future__ import annotations

from typing import Optional

import click

from pipeline.cli import abspath, config_option, load_config, output_root_option


@click.command()
@config_option
@output_root_option
@click.option("--port", type=int, help="TCP port (overrides serving.port; TF Serving's is 8501).")
@click.option("--host", help="Address to listen on (overrides serving.host).")
def serve(config_path: Optional[str], output_root: Optional[str], port: Optional[int],
          host: Optional[str]) -> None:
    """Serve the pushed model over TF Serving's REST API, with a prediction log."""
    from components.lib.label import LabelError
    from pipeline.serving import server

    cfg = load_config(config_path, {"output_root": abspath(output_root), "serving.port": port,
                              "serving.host": host})
    url = f"http://{cfg.serving.host}:{cfg.serving.port}/v1/models/{cfg.pipeline_name}"
    click.echo(f"Model server for {cfg.serving_dir} at {url}")
    click.echo(f"Prediction log: {cfg.prediction_log_dir}; ground truth: {cfg.ground_truth_path}")
    try:
        server.run(cfg, click.echo)
    except LabelError as e:
        raise click.ClickException(str(e)) from None


@click.command()
@config_option
@output_root_option
@click.option("--csv", "csv_path", required=True, type=click.Path(dir_okay=False),
              help="A CSV file with columns request_id,label.")
def label(config_path: Optional[str], output_root: Optional[str], csv_path: str) -> None:
    """Import ground truth for served rows (appended to <output_root>/serving/ground_truth.jsonl)."""
    from components.lib import label as label_lib
    from pipeline.serving import ground_truth

    cfg = load_config(config_path, {"output_root": abspath(output_root)})
    try:
        pairs = ground_truth.read_csv(csv_path, label_lib.of_config(cfg))
    except (ground_truth.GroundTruthError, label_lib.LabelError) as e:
        raise click.ClickException(str(e)) from None
    written = ground_truth.GroundTruthLog(cfg.ground_truth_path).append(pairs)
    click.echo(f"Wrote {written} label(s) to {cfg.ground_truth_path}")


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

    cfg = load_config(config_path, {"output_root": abspath(output_root), "data.root": abspath(data)})
    try:
        done = to_span_lib.export(cfg, serving_root or cfg.serving_dir)
    except to_span_lib.SpanExportError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Wrote span {done.span}: {done.rows} labelled served rows in {done.path}")
    click.echo("`python -m pipeline run --watch` (or `run`) trains on it next.")


def register(main: click.Group) -> None:
    for command in (serve, label, traffic):
        main.add_command(command)
