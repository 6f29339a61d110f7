"""The model server's commands: ``serve`` and ``label``."""
from __future__ import annotations

from typing import Any, Dict, Optional

import click


_config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                              help="Config file (default: config.yaml in the project).")
_output_option = click.option("--output-root", type=click.Path(),
                              help="Where the pushed models are (overrides output_root).")


def _load(config_path: Optional[str], overrides: Dict[str, Any]):
    from pipeline import cli  # imported here: cli imports this module to register it

    return cli._load(config_path, overrides)


def _root(output_root: Optional[str]) -> Optional[str]:
    from pipeline import cli

    return cli._abspath(output_root)


@click.command()
@_config_option
@_output_option
@click.option("--port", type=int, help="TCP port (overrides serving.port; TF Serving's is 8501).")
@click.option("--host", help="Address to listen on (overrides serving.host).")
def serve(config_path: Optional[str], output_root: Optional[str], port: Optional[int],
          host: Optional[str]) -> None:
    """Serve the pushed model over TF Serving's REST API, with a prediction log."""
    from pipeline.label import LabelError
    from pipeline.serving import server

    cfg = _load(config_path, {"output_root": _root(output_root), "serving.port": port,
                              "serving.host": host})
    url = f"http://{cfg.serving.host}:{cfg.serving.port}/v1/models/{cfg.pipeline_name}"
    click.echo(f"Model server for {cfg.serving_dir} at {url}")
    click.echo(f"Prediction log: {cfg.prediction_log_dir}; ground truth: {cfg.ground_truth_path}")
    try:
        server.run(cfg, click.echo)
    except LabelError as e:
        raise click.ClickException(str(e)) from None


@click.command()
@_config_option
@_output_option
@click.option("--csv", "csv_path", required=True, type=click.Path(dir_okay=False),
              help="A CSV file with columns request_id,label.")
def label(config_path: Optional[str], output_root: Optional[str], csv_path: str) -> None:
    """Import ground truth for served rows (appended to <output_root>/serving/ground_truth.jsonl)."""
    from pipeline import label as label_lib
    from pipeline.serving import ground_truth

    cfg = _load(config_path, {"output_root": _root(output_root)})
    try:
        pairs = ground_truth.read_csv(csv_path, label_lib.of_config(cfg))
    except (ground_truth.GroundTruthError, label_lib.LabelError) as e:
        raise click.ClickException(str(e)) from None
    written = ground_truth.GroundTruthLog(cfg.ground_truth_path).append(pairs)
    click.echo(f"Wrote {written} label(s) to {cfg.ground_truth_path}")


def register(main: click.Group) -> None:
    for command in (serve, label):
        main.add_command(command)
