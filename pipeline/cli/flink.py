"""``python -m pipeline flink up|down|status``: the flink-local profile's local cluster."""
from __future__ import annotations

from typing import Optional

import click

from pipeline.cli import config_option, load_with_root, output_root_option


@click.group()
def flink() -> None:
    """The local Flink cluster (JobManager, two TaskManagers, job server, SDK worker pool)."""


@flink.command()
@config_option
@output_root_option
def up(config_path: Optional[str], output_root: Optional[str]) -> None:
    """Start the cluster; its configuration and logs go under <output_root>/flink."""
    from pipeline.flink import cluster

    cfg = load_with_root(config_path, output_root)
    try:
        lay = cluster.up(cfg.output_root)
    except cluster.ClusterError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Flink {cluster.FLINK_VERSION} is up: web UI and REST {cluster.rest_url('')}, "
               f"{cluster.TASK_MANAGERS} TaskManagers")
    click.echo(f"Beam job server {cluster.HOST}:{cluster.JOB_PORT}, "
               f"SDK worker pool {cluster.HOST}:{cluster.WORKER_POOL_PORT}")
    click.echo(f"Logs: {lay.log}")


@flink.command()
def down() -> None:
    """Stop the cluster that `flink up` started."""
    from pipeline.flink import cluster

    try:
        lay = cluster.down()
    except cluster.ClusterError as e:
        raise click.ClickException(str(e)) from None
    click.echo("No Flink cluster was started." if lay is None else
               f"Flink cluster stopped (its logs stay in {lay.log}).")


@flink.command()
def status() -> None:
    """Which of the cluster's services answer."""
    from pipeline.flink import cluster

    for name, ok in cluster.status().items():
        click.echo(f"{name}: {'up' if ok else 'down'}")


def register(main: click.Group) -> None:
    main.add_command(flink)
