"""Checks made before any component runs: settings against the schema, paths, the output root.

``config.load`` validates each setting on its own. These checks need the file system or the
schema file, and a run that fails them would otherwise fail minutes later inside Transform
or the Evaluator (a label that is not a column) or after training (an output root that
cannot be written). Each failure is one line naming the setting.
"""
from __future__ import annotations

import os
import tempfile

from components.lib import label
from pipeline.config import Config


class PreflightError(ValueError):
    """A setting cannot work with this schema or file system; the message names it."""


def check_columns(cfg: Config) -> None:
    """The label, excluded features and slices must be columns the schema declares, and the
    label must fit ``data.task`` (classes for a classifier, a number for regression)."""
    try:
        schema = label.read_schema(cfg.schema)
    except label.LabelError as e:
        raise PreflightError(str(e)) from None
    features = [f.name for f in schema.feature]
    known = ", ".join(features)
    if cfg.data.label not in features:
        raise PreflightError(f"data.label: {cfg.data.label!r} is not a column of the schema "
                             f"{cfg.schema} (columns: {known})")
    for setting, names in (("data.exclude_features", cfg.data.exclude_features),
                           ("evaluator.slices", cfg.evaluator.slices)):
        for name in names:
            if name not in features:
                raise PreflightError(f"{setting}: {name!r} is not a column of the schema "
                                     f"{cfg.schema} (columns: {known})")
    if cfg.data.label in cfg.data.exclude_features:
        raise PreflightError(f"data.exclude_features: the label {cfg.data.label!r} cannot be excluded")
    try:
        label.of_schema(schema, cfg.data.label, cfg.data.task, cfg.schema)
    except label.LabelError as e:
        raise PreflightError(str(e)) from None


def check_output_root(output_root: str) -> None:
    """Creates the output root and a file in it, so an unwritable root fails now."""
    try:
        os.makedirs(output_root, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_root, prefix=".write-check-"):
            pass
    except OSError as e:
        raise PreflightError(f"output_root: {output_root} cannot be written ({e.strerror or e})") from None


def check(cfg: Config) -> None:
    """Every check above, cheapest first; the output root last since it creates folders."""
    check_columns(cfg)
    check_output_root(cfg.output_root)
    check_beam_profile(cfg)


def check_beam_profile(cfg: Config) -> None:
    """The flink-local profile needs the local cluster up: one line naming `make flink-up`."""
    if cfg.beam.profile != "flink-local":
        return
    from pipeline.flink import cluster

    try:
        cluster.require_up()
    except cluster.ClusterError as e:
        raise PreflightError(str(e)) from None
