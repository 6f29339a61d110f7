"""The up-to-date check: a rerun is skipped only when nothing the run reads has changed."""
from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline import config as config_lib
from pipeline.local import uptodate
from tests.conftest import DATA, ROOT, SCHEMA

SPAN = 3


@pytest.fixture
def setup(tmp_path):
    """A config over copies of the bundled data and schema, and a small stand-in project."""
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    schema = tmp_path / "schema.pbtxt"
    shutil.copy(SCHEMA, schema)
    project = tmp_path / "project"
    (project / "components").mkdir(parents=True)
    (project / "components" / "model.py").write_text("STEPS = 1\n")
    out = tmp_path / "out"
    out.mkdir()
    cfg = config_lib.load(None, {"data.root": str(data), "schema": str(schema),
                                 "output_root": str(out)})
    return cfg, str(project)


def later(path: str) -> None:
    """Moves ``path``'s mtime on, as a later write would (without sleeping for the clock)."""
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_unchanged_rerun_finds_the_record(setup):
    cfg, project = setup
    assert uptodate.fingerprint(cfg, SPAN, project) == uptodate.fingerprint(cfg, SPAN, project)
    assert uptodate.unchanged_since(cfg, SPAN) is None  # no run yet
    uptodate.remember(cfg, SPAN, "run-1", ["  Model: blessed, pushed as version 1"])
    record = uptodate.unchanged_since(cfg, SPAN)
    assert record["run_id"] == "run-1"
    assert record["outcome"] == ["  Model: blessed, pushed as version 1"]


def _edit_data(cfg, project):
    with open(os.path.join(cfg.data.root, "span-3", "penguins.csv"), "a") as f:
        f.write("Adelie,Dream,39.0,18.0,190,3700,male,2009\n")


def _touch_data(cfg, project):
    later(os.path.join(cfg.data.root, "span-3", "penguins.csv"))


def _new_span(cfg, project):
    os.makedirs(os.path.join(cfg.data.root, "span-4"))
    shutil.copy(os.path.join(cfg.data.root, "span-3", "penguins.csv"),
                os.path.join(cfg.data.root, "span-4", "penguins.csv"))


def _edit_schema(cfg, project):
    with open(cfg.schema, "a") as f:
        f.write("\n")


def _edit_code_same_size_and_time(cfg, project):
    path = os.path.join(project, "components", "model.py")
    stat = os.stat(path)
    with open(path, "w") as f:
        f.write("STEPS = 2\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _new_serving_version(cfg, project):
    os.makedirs(os.path.join(cfg.serving_dir, "2"))


def _metadata_written(cfg, project):
    with open(cfg.metadata_path, "ab") as f:
        f.write(b"\0")


def _new_library_version(cfg, project, monkeypatch):
    real = importlib.metadata.version
    monkeypatch.setattr(uptodate.importlib.metadata, "version",
                        lambda name: "99.0" if name == "tensorflow" else real(name))


CHANGES = [_edit_data, _touch_data, _new_span, _edit_schema, _edit_code_same_size_and_time,
           _new_serving_version, _metadata_written, _new_library_version]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
def test_any_change_to_what_the_run_reads_means_a_real_run(setup, change, monkeypatch):
    cfg, project = setup
    os.makedirs(os.path.join(cfg.serving_dir, "1"))
    with open(cfg.metadata_path, "wb") as f:
        f.write(b"sqlite")
    before = uptodate.fingerprint(cfg, SPAN, project)
    if change is _new_library_version:
        change(cfg, project, monkeypatch)
    else:
        change(cfg, project)
    assert uptodate.fingerprint(cfg, SPAN, project) != before


def test_another_span_or_setting_means_a_real_run(setup):
    cfg, _ = setup
    uptodate.remember(cfg, SPAN, "run-1", [])
    assert uptodate.unchanged_since(cfg, 2) is None
    steps = config_lib.load(None, {"data.root": cfg.data.root, "schema": cfg.schema,
                                   "output_root": cfg.output_root, "trainer.train_steps": 7})
    assert uptodate.unchanged_since(steps, SPAN) is None
    assert uptodate.unchanged_since(cfg, SPAN) is not None


def test_an_unreadable_or_dropped_record_means_a_real_run(setup):
    cfg, _ = setup
    uptodate.remember(cfg, SPAN, "run-1", [])
    path = os.path.join(cfg.output_root, uptodate.RECORD)
    with open(path, "w") as f:
        f.write("{not json")
    assert uptodate.unchanged_since(cfg, SPAN) is None
    with open(path, "w") as f:
        json.dump(["a list"], f)
    assert uptodate.unchanged_since(cfg, SPAN) is None
    uptodate.remember(cfg, SPAN, "run-1", [])
    uptodate.forget(cfg)
    assert not os.path.exists(path)
    assert uptodate.unchanged_since(cfg, SPAN) is None


def test_the_skip_prints_the_last_outcome_without_importing_tensorflow(setup):
    """`run` answers from the record alone: no TensorFlow, TFX or Beam import."""
    cfg, _ = setup
    config = os.path.join(cfg.output_root, "config.yaml")  # the project's, with the copied schema
    with open(os.path.join(ROOT, "config.yaml")) as f:
        text = f.read().replace("schema: schema/schema.pbtxt", f"schema: {cfg.schema}")
    with open(config, "w") as f:
        f.write(text)
    flags = ["--config", config, "--data", cfg.data.root, "--output-root", cfg.output_root]
    cli_cfg = config_lib.load(config, {"data.root": cfg.data.root, "output_root": cfg.output_root})
    uptodate.remember(cli_cfg, SPAN, "run-7", ["  Model: blessed, pushed as version 3"])
    script = ("import sys\n"
              "from pipeline.cli import main\n"
              "try:\n"
              f"    main(['run', *{flags!r}])\n"
              "except SystemExit as e:\n"
              "    assert not e.code, e.code\n"
              "print('heavy:', [m for m in ('tensorflow', 'tfx', 'apache_beam') if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Nothing changed since run run-7 on span 3" in out.stdout
    assert "  Model: blessed, pushed as version 3" in out.stdout
    assert "heavy: []" in out.stdout
