"""``python -m pipeline report``: the reviewer report of any past run, from ML Metadata."""
from __future__ import annotations

import os
from typing import List, Optional

import click

from pipeline import config as config_lib
from pipeline.cli import abspath, load_config


def report_lines(cfg: config_lib.Config, run_id: str) -> List[str]:
    """Writes the report of ``run_id`` and returns the summary lines that point to it.

    The run's own Report component wrote one too (the one Kubeflow shows), but a run that
    stopped never reached it, and a fully cached run re-uses an earlier run's; this one
    always describes ``run_id``.
    """
    from pipeline.metadata import report_sources

    try:
        html_path, md_path, _ = report_sources.write_report(cfg, run_id)
    except Exception as e:  # the run's own outcome must still show, whatever the report hit
        first = (str(e).strip().splitlines() or [""])[0]
        return [f"  Report: not written ({type(e).__name__}: {first})"]
    return [f"  Report: {_relative(html_path)}", f"  Summary: {_relative(md_path)}"]


def _relative(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


@click.command()
@click.option("--run", "run_id", help="Run ID (default: the latest run in the output root).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="HTML file to write (default: <output_root>/reports/<run>.html); the Markdown "
                   "summary goes beside it as .md.")
@click.option("--output-root", type=click.Path(file_okay=False),
              help="The output root of the runs (default: output_root in the config).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config file (default: config.yaml in the project).")
def report(run_id: Optional[str], output: Optional[str], output_root: Optional[str],
           config_path: Optional[str]) -> None:
    """Write the reviewer report (self-contained HTML + Markdown) of a past run."""
    cfg = load_config(config_path, {"output_root": abspath(output_root)})
    from pipeline.metadata import report_sources

    try:
        html_path, md_path, built = report_sources.write_report(
            cfg, run_id, os.path.abspath(output) if output else None)
    except (report_sources.RunNotFound, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{output or 'report'}: cannot write ({e.strerror})") from None
    click.echo(f"{built.verdict.headline}, {built.verdict.push}")
    click.echo(f"Report: {_relative(html_path)} ({os.path.getsize(html_path):,} bytes)")
    click.echo(f"Summary: {_relative(md_path)}")


def register(main: click.Group) -> None:
    main.add_command(report)
