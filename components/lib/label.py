"""What the label is: a string class, an integer class, or a numeric regression target.

Read once from the config (``data.label``, ``data.task``) and the curated schema, so the
factory, the TFMA config and preflight agree; the user code gets the same ``Label`` back from
Transform's and the Trainer's ``custom_config`` (``from_custom_config``). A label that cannot work with its task fails
here with one line naming the setting and the schema, before any component runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

CLASSIFICATION, REGRESSION = "classification", "regression"  # the tasks (data.task)
TASKS = (CLASSIFICATION, REGRESSION)
MAX_INT_CLASSES = 100  # an integer label with a wider range is a count or an amount


class LabelError(ValueError):
    """The label does not fit the task; the message names the setting and the schema."""


@dataclass(frozen=True)
class Label:
    name: str
    task: str
    # Classification: the classes; for an integer label in class-id order (id = value - first).
    # A string label's class ids follow Transform's vocabulary, so only their count is used.
    classes: List[str]
    integer: bool = False

    @property
    def binary(self) -> bool:
        return self.task == CLASSIFICATION and len(self.classes) == 2

    @property
    def offset(self) -> int:
        """An integer label's smallest class value: class id = value - offset."""
        return int(self.classes[0]) if self.integer else 0

    @property
    def regression(self) -> bool:
        return self.task == REGRESSION

    def custom_config(self) -> Dict[str, Any]:
        """What Transform and the Trainer need beyond the label's name (the factory adds it
        as ``label``; ``from_custom_config`` reads both back). Only what differs from a string
        class label is written, so a string label's cache keys do not depend on the other
        tasks; its classes come from Transform's vocabulary."""
        if self.task == REGRESSION:
            return {"task": REGRESSION}
        return {"label_classes": list(self.classes)} if self.integer else {}


def from_custom_config(custom_config: Dict[str, Any]) -> Label:
    """The ``Label`` in a component's ``custom_config`` (written by ``Label.custom_config``)."""
    classes = [str(c) for c in custom_config.get("label_classes") or []]
    return Label(custom_config["label"], custom_config.get("task", CLASSIFICATION), classes,
                 integer=bool(classes))


def read_schema(path: str) -> schema_pb2.Schema:
    """A text-proto schema file; LabelError naming the file if it is missing or broken."""
    try:
        with open(path, encoding="utf-8") as f:
            return text_format.Parse(f.read(), schema_pb2.Schema())
    except FileNotFoundError:
        raise LabelError(f"schema: {path}: file not found") from None
    except (text_format.ParseError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LabelError(f"schema: {path}: not a valid schema ({first})") from None


def _domain(schema: schema_pb2.Schema, feature: schema_pb2.Feature, kind: str):
    """The feature's inline ``<kind>_domain``, or the top-level one it names, or None."""
    if feature.HasField(kind):
        return getattr(feature, kind)
    if feature.HasField("domain"):
        return next((d for d in getattr(schema, kind, []) if d.name == feature.domain), None)
    return None


def _int_classes(schema: schema_pb2.Schema, feature: schema_pb2.Feature, where: str) -> List[str]:
    if feature.HasField("bool_domain"):
        return ["0", "1"]
    domain = _domain(schema, feature, "int_domain")
    if domain is None or not (domain.HasField("min") and domain.HasField("max")):
        raise LabelError(f"{where} is an integer column without an int_domain {{ min max }}: "
                         "give the range of its classes in the schema, or set data.task: "
                         "regression for a numeric target")
    count = domain.max - domain.min + 1
    if not 2 <= count <= MAX_INT_CLASSES:
        raise LabelError(f"{where} has an int_domain of {count} value(s) ({domain.min} to "
                         f"{domain.max}); a class label needs 2 to {MAX_INT_CLASSES}, or set "
                         "data.task: regression for a numeric target")
    return [str(v) for v in range(domain.min, domain.max + 1)]


def of_schema(schema: schema_pb2.Schema, name: str, task: str, schema_path: str) -> Label:
    """The label ``name`` of ``schema`` for ``task``; LabelError if they do not fit."""
    feature = next((f for f in schema.feature if f.name == name), None)
    where = f"data.label: {name!r} in {schema_path}"
    if feature is None:
        raise LabelError(f"{where}: not a column of the schema")
    if task == REGRESSION:
        if feature.type not in (schema_pb2.INT, schema_pb2.FLOAT):
            raise LabelError(f"{where} is a {schema_pb2.FeatureType.Name(feature.type)} column; "
                             "data.task: regression needs a numeric label (INT or FLOAT)")
        return Label(name, REGRESSION, [])
    if feature.type == schema_pb2.INT:
        return Label(name, CLASSIFICATION, _int_classes(schema, feature, where), integer=True)
    if feature.type == schema_pb2.FLOAT:
        raise LabelError(f"{where} is a FLOAT column: a classifier needs classes; set "
                         "data.task: regression for a numeric target")
    domain = _domain(schema, feature, "string_domain")
    if domain is None or len(domain.value) < 2:
        raise LabelError(f"{where} needs a string domain listing its classes (at least 2)")
    return Label(name, CLASSIFICATION, list(domain.value))


def of_config(cfg: Any) -> Label:
    """The label of a pipeline config (its ``schema``, ``data.label`` and ``data.task``), read
    from its schema file. Duck-typed: this layer never imports the pipeline package."""
    return of_schema(read_schema(cfg.schema), cfg.data.label, cfg.data.task, cfg.schema)
