"""The command line: ``python -m pipeline <command>``.

The click group and the one config loader live here; each command family is a module of this
package (``run``, ``ct``, ``report``, ``kubeflow``, ``serving``, ``flink``) that adds its commands to the
group. This is the one package that imports both ``pipeline`` and ``kubeflow``.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional

import click

from pipeline import config as config_lib


def load_config(config_path: Optional[str],
                overrides: Optional[Dict[str, Any]] = None) -> config_lib.Config:
    """The validated config with the command line's overrides; a bad one ends the command
    with its one-line message."""
    try:
        return config_lib.load(config_path, overrides)
    except config_lib.ConfigError as e:
        raise click.ClickException(str(e)) from None


def abspath(path: Optional[str]) -> Optional[str]:
    """A path given on the command line, absolute (None stays None)."""
    return os.path.abspath(path) if path else None


def load_with_root(config_path: Optional[str], output_root: Optional[str]) -> config_lib.Config:
    """``load_config`` with only ``--output-root`` overridden."""
    return load_config(config_path, {"output_root": abspath(output_root)})


config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="Config file (default: config.yaml in the project).")
output_root_option = click.option("--output-root", type=click.Path(),
                                  help="Where ML Metadata and pushed models are "
                                       "(overrides output_root).")


def _quiet() -> None:
    """Keeps TFX, Beam and TensorFlow's own logs out of the progress lines and summary."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    # CRITICAL, not ERROR: a failing component is reported once, by our one-line ✘ message;
    # TFX and Beam would add "Execution N failed" and a traceback of the same error.
    logging.getLogger().setLevel(logging.CRITICAL)
    for name in ("absl", "tensorflow", "apache_beam"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.FATAL)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show TFX, Beam and TensorFlow logs too.")
def main(verbose: bool) -> None:
    """A TFX pipeline that runs locally under Beam and compiles to Kubeflow Pipelines."""
    if not verbose:
        _quiet()
    # Click has read the command line; absl, which TFX and Beam parse flags with, would read
    # it again and take `-v run` for its own `--verbosity=run`. Put back when the command ends.
    read = sys.argv[1:]
    del sys.argv[1:]
    click.get_current_context().call_on_close(lambda: sys.argv.extend(read))


# Each family's module adds its commands to the group; imported last, as they import the
# loader above.
from pipeline.cli import ct, flink, kubeflow, report, run, serving  # noqa: E402

for family in (run, ct, report, kubeflow, serving, flink):
    family.register(main)


if __name__ == "__main__":
    main()
