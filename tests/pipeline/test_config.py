"""Config loading: defaults, overrides, and one clear error per wrong setting."""
import os

import pytest

from pipeline import config as config_lib
from pipeline.config import ConfigError
from tests.conftest import ROOT


def _write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_project_config_loads_with_paths_relative_to_it():
    cfg = config_lib.load()
    assert cfg.data.root == os.path.join(ROOT, "data", "penguins")
    assert cfg.schema == os.path.join(ROOT, "schema", "schema.pbtxt")
    assert cfg.metadata_path == os.path.join(ROOT, "out", "metadata.sqlite")
    assert cfg.data.label == "species"


def test_flags_override_the_file(tmp_path):
    cfg = config_lib.load(_write(tmp_path, "trainer: {train_steps: 5}\n"),
                          {"trainer.train_steps": 9, "output_root": "/elsewhere", "data.span": None})
    assert cfg.trainer.train_steps == 9
    assert cfg.output_root == "/elsewhere"
    assert cfg.data.root == str(tmp_path / "data" / "penguins")


@pytest.mark.parametrize("text, named", [
    ("trainer: {train_stepz: 3}\n", "unknown setting 'trainer.train_stepz'"),
    ("colour: blue\n", "unknown setting 'colour'"),
    ("trainer: {train_steps: many}\n", "trainer.train_steps: must be int, got 'many'"),
    ("trainer: {train_steps: -5}\n", "trainer.train_steps: must be positive, got -5"),
    ("trainer: {hidden_units: 8}\n", "trainer.hidden_units: must be a list"),
    ("evaluator: {min_accuracy: 1.5}\n", "evaluator.min_accuracy: must be between 0 and 1"),
    ("data: {task: clustering}\n", "data.task: must be one of classification, regression"),
    ("data: {task: regression}\n", "evaluator.max_error: must be a positive bound on "
                                   "mean_absolute_error with data.task: regression, got None"),
    ("data: {task: regression}\nevaluator: {max_error: -2}\n", "evaluator.max_error: must be a "
                                                                "positive bound"),
    ("evaluator: {regression_metric: r2}\n", "evaluator.regression_metric: must be one of"),
    ("evaluator: {decision_threshold: 1.5}\n", "evaluator.decision_threshold: must be between 0"),
    ("evaluator: {max_error_increase: -0.1}\n", "evaluator.max_error_increase: must be between 0"),
    ("pipeline_name: My_Pipeline\n", "pipeline_name: 'My_Pipeline' is not a valid Kubeflow name"),
    ("data: {span_pattern: 'all/*.csv'}\n", "data.span_pattern: must contain {SPAN}"),
    ("beam: {profile: turbo}\n", "beam.profile: 'turbo' is not one of beam.profiles"),
    ("kubeflow: {resources: {Trainer: {gpu: 1}}}\n", "unknown setting 'kubeflow.resources.Trainer.gpu'"),
    ("kubeflow: {images: {Trainer: [a]}}\n", "kubeflow.images.Trainer: must be str"),
    ("data: [1, 2]\n", "data: must be a mapping"),
    ("trainer: {train_steps: [\n", "not valid YAML"),
])
def test_wrong_settings_are_named(tmp_path, text, named):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        config_lib.load(path)
    message = str(error.value)
    assert named in message
    assert "config.yaml" in message and "\n" not in message


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        config_lib.load(str(tmp_path / "nope.yaml"))


def test_digest_changes_with_any_setting(tmp_path):
    a = config_lib.load(_write(tmp_path, "trainer: {seed: 1}\n"))
    b = config_lib.load(_write(tmp_path, "trainer: {seed: 2}\n"))
    assert a.digest() != b.digest()


def test_digest_is_the_same_in_any_clone_of_the_project():
    """The compiled spec carries the digest; a clone at another path must compile the same."""
    here = config_lib.load()
    moved = {"output_root", "schema"}
    elsewhere = type(here)(**{
        **{f: getattr(here, f) for f in here.__dataclass_fields__},
        **{f: getattr(here, f).replace(ROOT, "/clone") for f in moved},
        "data": type(here.data)(**{**here.data.__dict__,
                                   "root": here.data.root.replace(ROOT, "/clone")}),
    })
    assert elsewhere.data.root.startswith("/clone/")
    assert elsewhere.digest(root="/clone") == here.digest()
    assert elsewhere.digest(root="/other") != here.digest()


@pytest.mark.parametrize("cfg", [config_lib.load(), config_lib.Config()],
                         ids=["config.yaml", "defaults"])
def test_local_profile_spares_tfx_the_throwaway_sdist_build(cfg, monkeypatch):
    """TFX builds an sdist of itself before every Beam component unless a dependency flag is set."""
    from tfx.utils import dependency_utils

    def build():
        raise AssertionError("TFX would build an ephemeral sdist for this profile")

    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", build)
    args = cfg.beam_args("local")
    assert dependency_utils.make_beam_dependency_flags(args) == args
