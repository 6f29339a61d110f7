"""TF Serving's REST predict format: request bodies to input columns, outputs to JSON.

A request names its signature with ``signature_name``. Without it, rows given as
serialized tf.Examples (``{"b64": ...}``) go to ``serving_default``, and rows or columns of
raw features to the model's raw-features signature (``serving_raw``), when it has one. Every
error is a ``RequestError`` with one line naming the field.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from components.user.model import RAW_SIGNATURE
from pipeline.serving.models import DEFAULT_SIGNATURE, Input, LoadedModel

B64 = "b64"


class RequestError(ValueError):
    """A bad request: ``status`` is its HTTP status, the message one line naming the field."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    signature: str
    columns: Dict[str, np.ndarray]
    rows: int
    row_format: bool   # "instances" (answered as "predictions") or "inputs" ("outputs")


def parse_json(body: bytes) -> Dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RequestError(f"body: not valid JSON ({e})") from None
    if not isinstance(parsed, dict):
        raise RequestError(f"body: must be a JSON object, got {type(parsed).__name__}")
    return parsed


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {B64}


def _pick_signature(body: Dict[str, Any], model: LoadedModel, rows: Any) -> str:
    name = body.get("signature_name")
    if name is not None:
        if not isinstance(name, str) or name not in model.signatures:
            raise RequestError(f"signature_name: {name!r} is not a signature of version "
                               f"{model.version} ({', '.join(sorted(model.signatures))})")
        return name
    first = rows[0] if isinstance(rows, list) and rows else rows
    if isinstance(first, dict) and not _is_b64(first) and RAW_SIGNATURE in model.signatures \
            and not {i.name for i in model.inputs(DEFAULT_SIGNATURE)} & set(first):
        return RAW_SIGNATURE
    return DEFAULT_SIGNATURE


def parse_predict(body: Dict[str, Any], model: LoadedModel) -> Request:
    """The signature and input columns of a predict request for ``model``."""
    unknown = sorted(set(body) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise RequestError(f"{unknown[0]}: unknown field (expected instances or inputs, "
                           "and optionally signature_name)")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("body: give exactly one of instances (rows) or inputs (columns)")
    row_format = "instances" in body
    data = body["instances"] if row_format else body["inputs"]
    signature = _pick_signature(body, model, data)
    inputs = model.inputs(signature)
    if row_format:
        columns = _columns_of_rows(data, inputs)
    else:
        columns = _columns_of_inputs(data, inputs)
    counts = {len(c) for c in columns.values()}
    if len(counts) != 1:
        raise RequestError(f"inputs: columns have different lengths ({sorted(counts)})")
    return Request(signature, {i.name: _array(columns[i.name], i) for i in inputs},
                   counts.pop(), row_format)


def _columns_of_rows(rows: Any, inputs: List[Input]) -> Dict[str, List[Any]]:
    if not isinstance(rows, list) or not rows:
        raise RequestError("instances: must be a non-empty list of rows")
    names = [i.name for i in inputs]
    columns: Dict[str, List[Any]] = {name: [] for name in names}
    for n, row in enumerate(rows):
        if len(names) == 1 and not (isinstance(row, dict) and set(row) == set(names)):
            row = {names[0]: row}  # a one-input signature takes bare values
        if not isinstance(row, dict):
            raise RequestError(f"instances[{n}]: must be an object of features, got "
                               f"{type(row).__name__}")
        _check_names(row, names, f"instances[{n}]")
        for name in names:
            columns[name].append(row[name])
    return columns


def _columns_of_inputs(inputs_field: Any, inputs: List[Input]) -> Dict[str, List[Any]]:
    names = [i.name for i in inputs]
    if len(names) == 1 and isinstance(inputs_field, list):
        inputs_field = {names[0]: inputs_field}
    if not isinstance(inputs_field, dict):
        raise RequestError("inputs: must be an object of columns (feature: list of values)")
    _check_names(inputs_field, names, "inputs")
    for name in names:
        if not isinstance(inputs_field[name], list) or not inputs_field[name]:
            raise RequestError(f"inputs.{name}: must be a non-empty list, one value per row")
    return {name: inputs_field[name] for name in names}


def _check_names(given: Dict[str, Any], names: List[str], where: str) -> None:
    missing = [n for n in names if n not in given]
    if missing:
        raise RequestError(f"{where}.{missing[0]}: missing feature (expected: {', '.join(names)})")
    extra = sorted(set(given) - set(names))
    if extra:
        raise RequestError(f"{where}.{extra[0]}: unknown feature (expected: {', '.join(names)})")


def _array(values: List[Any], spec: Input) -> np.ndarray:
    """One input's values as the array its signature takes, each value checked."""
    converted = [_value(v, spec, n) for n, v in enumerate(values)]
    if spec.dtype.is_floating:
        return np.array(converted, dtype=np.float32)
    return np.array(converted, dtype=object if spec.dtype.name == "string" else np.int64)


def _value(value: Any, spec: Input, row: int) -> Any:
    where = f"{spec.name}[{row}]"
    if value is None:
        raise RequestError(f"{where}: null; send every feature, or the row as a serialized "
                           "tf.Example ({\"b64\": ...}) to leave one out")
    if spec.dtype.name == "string":
        if _is_b64(value):
            try:
                return base64.b64decode(value[B64], validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise RequestError(f"{where}: b64 is not valid base64") from None
        if isinstance(value, str):
            return value.encode("utf-8")
        raise RequestError(f"{where}: expected a string, got {json.dumps(value)[:40]}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{where}: expected a number, got {json.dumps(value)[:40]}")
    if spec.dtype.is_integer:
        if isinstance(value, float) and not value.is_integer():
            raise RequestError(f"{where}: expected an integer, got {value}")
        return int(value)
    if not math.isfinite(value):
        raise RequestError(f"{where}: expected a finite number, got {value}")
    return float(value)


def response(outputs: Dict[str, np.ndarray], row_format: bool) -> Dict[str, Any]:
    """TF Serving's response: ``predictions`` (one entry per row) for ``instances``,
    ``outputs`` (one list per output) for ``inputs``; a lone output is given bare."""
    lists = {name: _json_list(value) for name, value in sorted(outputs.items())}
    if not row_format:
        return {"outputs": next(iter(lists.values())) if len(lists) == 1 else lists}
    if len(lists) == 1:
        return {"predictions": next(iter(lists.values()))}
    rows = len(next(iter(lists.values())))
    return {"predictions": [{name: values[i] for name, values in lists.items()}
                            for i in range(rows)]}


def _json_list(value: np.ndarray) -> List[Any]:
    if value.dtype == object:
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                for v in value.tolist()]
    return value.tolist()


def version_of(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    if not text.isdigit():
        raise RequestError(f"version: {text!r} is not a version number", status=400)
    return int(text)
