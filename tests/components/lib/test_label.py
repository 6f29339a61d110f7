"""The label read from config and schema: string, integer or bool classes, or a regression
target; and the one-line errors when label and task do not fit."""
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.lib import label
from pipeline import config
from pipeline.local import preflight
from tests.conftest import ROOT


def schema(text: str) -> schema_pb2.Schema:
    return text_format.Parse(text, schema_pb2.Schema())


def test_the_bundled_and_example_configs_read_their_labels():
    penguins = label.of_config(config.load())
    assert (penguins.task, sorted(penguins.classes), penguins.integer) == (
        "classification", ["Adelie", "Chinstrap", "Gentoo"], False)
    assert penguins.custom_config() == {}  # the penguins pipeline's cache keys are unchanged
    tips = label.of_config(config.load(f"{ROOT}/examples/tips.yaml"))
    assert (tips.classes, tips.binary, tips.offset) == (["0", "1"], True, 0)
    assert tips.custom_config() == {"label_classes": ["0", "1"]}
    deliveries = label.of_config(config.load(f"{ROOT}/examples/deliveries.yaml"))
    assert (deliveries.task, deliveries.classes, deliveries.binary) == ("regression", [], False)
    assert deliveries.custom_config() == {"task": "regression"}


@pytest.mark.parametrize("text, classes", [
    ('feature { name: "y" type: INT int_domain { min: 1 max: 3 } }', ["1", "2", "3"]),
    ('feature { name: "y" type: INT bool_domain {} }', ["0", "1"]),  # what TFDV infers for 0/1
    ('feature { name: "y" type: INT domain: "d" } int_domain { name: "d" min: 0 max: 2 }',
     ["0", "1", "2"]),
    ('feature { name: "y" type: BYTES domain: "d" } string_domain { name: "d" value: "a" value: "b" }',
     ["a", "b"]),
])
def test_classes_come_from_the_schema_domain(text, classes):
    found = label.of_schema(schema(text), "y", "classification", "s.pbtxt")
    assert found.classes == classes
    assert found.offset == (int(classes[0]) if found.integer else 0)


@pytest.mark.parametrize("text, task, message", [
    ('feature { name: "y" type: INT }', "classification",
     "data.label: 'y' in s.pbtxt is an integer column without an int_domain"),
    ('feature { name: "y" type: INT int_domain { min: 0 max: 5000 } }', "classification",
     "int_domain of 5001 value(s) (0 to 5000); a class label needs 2 to 100"),
    ('feature { name: "y" type: FLOAT }', "classification",
     "is a FLOAT column: a classifier needs classes; set data.task: regression"),
    ('feature { name: "y" type: BYTES }', "classification", "needs a string domain listing its classes"),
    ('feature { name: "y" type: BYTES }', "regression",
     "is a BYTES column; data.task: regression needs a numeric label"),
    ('feature { name: "x" type: FLOAT }', "regression", "data.label: 'y' in s.pbtxt: not a column"),
])
def test_a_label_that_does_not_fit_its_task_is_one_line_naming_the_setting(text, task, message):
    with pytest.raises(label.LabelError) as error:
        label.of_schema(schema(text), "y", task, "s.pbtxt")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_preflight_checks_the_label_against_the_task(tmp_path):
    path = tmp_path / "schema.pbtxt"
    path.write_text('feature { name: "price" type: FLOAT }\n')
    cfg = config.load(None, {"schema": str(path), "data.label": "price", "data.exclude_features": [],
                             "evaluator.slices": [], "output_root": str(tmp_path / "out")})
    with pytest.raises(preflight.PreflightError, match="data.label: 'price' .* FLOAT column"):
        preflight.check(cfg)
    regression = config.load(None, {"schema": str(path), "data.label": "price",
                                    "data.task": "regression", "evaluator.max_error": 10.0,
                                    "data.exclude_features": [], "evaluator.slices": [],
                                    "output_root": str(tmp_path / "out")})
    preflight.check(regression)
