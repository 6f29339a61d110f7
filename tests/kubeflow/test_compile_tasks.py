"""The Kubeflow spec follows the task: the example configs compile with their label's
settings, and nothing of penguins is left in them."""
from __future__ import annotations

import json
import os

import pytest
from google.protobuf import json_format

from kubeflow import compile as compiler
from pipeline import config as config_lib
from pipeline import factory
from tests.conftest import ROOT


def _parameters(spec, task: str) -> dict:
    """The constant parameters of one task in the compiled spec, decoded."""
    inputs = json_format.MessageToDict(spec.root.dag.tasks[task].inputs)
    return {name: value["runtimeValue"]["constant"]
            for name, value in inputs.get("parameters", {}).items()
            if "runtimeValue" in value}


@pytest.mark.parametrize("name, trainer_config, metrics", [
    ("tips", {"label": "big_tipper", "label_classes": ["0", "1"]}, ["ConfusionAccuracy", "AUC"]),
    ("deliveries", {"label": "duration_min", "task": "regression"},
     ["MeanSquaredError", "MeanAbsoluteError", "RegressionSample"]),
])
def test_an_example_config_compiles_with_its_task(name, trainer_config, metrics):
    cfg = config_lib.load(os.path.join(ROOT, "examples", f"{name}.yaml"))
    spec = compiler.build_spec(cfg, image="registry.test/pipe:1")
    assert set(spec.root.dag.tasks) == set(factory.COMPONENT_IDS) | {compiler.FINGERPRINT_TASK,
                                                              compiler.SERVING_STATE_TASK}
    trainer = json.loads(_parameters(spec, "Trainer")["custom_config"])
    assert {k: trainer[k] for k in trainer_config} == trainer_config
    transform = json.loads(_parameters(spec, "Transform")["custom_config"])
    assert {k: transform[k] for k in trainer_config} == trainer_config
    assert transform["exclude_features"] == cfg.data.exclude_features
    evaluation = _parameters(spec, "Evaluator")["eval_config"]
    for metric in metrics:
        assert f'"{metric}"' in evaluation
    assert spec.pipeline_info.name == name
    assert spec.root.input_definitions.parameters["data_root"].default_value.string_value == (
        f"/pipeline/data/{name}")
    assert "species" not in compiler.to_yaml(spec) and "island" not in compiler.to_yaml(spec)
