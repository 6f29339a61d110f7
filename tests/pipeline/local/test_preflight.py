"""Checks before any component runs: settings against the schema, a writable output root."""
import dataclasses
import os

import pytest

from pipeline import config
from pipeline.local import preflight


@pytest.fixture
def cfg(tmp_path):
    return config.load(None, {"output_root": str(tmp_path / "out")})


def test_the_project_config_passes_and_the_output_root_is_created(cfg):
    preflight.check(cfg)
    assert os.path.isdir(cfg.output_root) and os.listdir(cfg.output_root) == []


@pytest.mark.parametrize("section, setting, value, message", [
    ("data", "exclude_features", ["yeer"], "data.exclude_features: 'yeer' is not a column"),
    ("evaluator", "slices", ["colour"], "evaluator.slices: 'colour' is not a column"),
    ("data", "exclude_features", ["species"], "the label 'species' cannot be excluded"),
])
def test_settings_naming_columns_must_name_schema_columns(cfg, section, setting, value, message):
    broken = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section),
                                                                      **{setting: value})})
    with pytest.raises(preflight.PreflightError, match=message):
        preflight.check(broken)
    assert not os.path.exists(cfg.output_root)  # nothing created for a config that cannot run


def test_a_missing_or_broken_schema_file_is_named(cfg, tmp_path):
    with pytest.raises(preflight.PreflightError, match="schema: .*nope.pbtxt: file not found"):
        preflight.check(dataclasses.replace(cfg, schema=str(tmp_path / "nope.pbtxt")))
    bad = tmp_path / "bad.pbtxt"
    bad.write_text("feature { name: 'x' typo: 1 }\n")
    with pytest.raises(preflight.PreflightError, match="bad.pbtxt: not a valid schema"):
        preflight.check(dataclasses.replace(cfg, schema=str(bad)))
