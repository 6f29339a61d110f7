"""Ground truth: the true label of a served row, appended to
``<output_root>/serving/ground_truth.jsonl`` as ``{"id", "label", "time"}`` lines.

A row is named by its request id (a one-row request) or ``<request id>/<i>`` (row i of a
batch); a later line for the same id replaces an earlier one. Labels are checked against the
config's label (its classes, or a number for a regression) before anything is written.
"""
from __future__ import annotations

import csv
import json
import math
import os
import threading
from typing import Any, List, Tuple

from components.lib.label import REGRESSION, Label
from pipeline.serving.prediction_log import now

CSV_COLUMNS = ("request_id", "label")


class GroundTruthError(ValueError):
    """A label or an id is wrong; the message names the field, or the file, row and column."""


def check(label: Label, value: Any) -> Any:
    """``value`` as it is written for ``label``; GroundTruthError saying what is expected."""
    if label.task == REGRESSION:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise GroundTruthError(f"expected a number for {label.name!r}, got {value!r}")
        return value
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text not in label.classes:
        raise GroundTruthError(f"{value!r} is not a class of {label.name!r} "
                               f"({', '.join(label.classes)})")
    return int(text) if label.integer else text


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GroundTruthError(f"expected a request id (text, e.g. 'abc' or 'abc/0'), "
                               f"got {value!r}")
    return value.strip()


def parse_body(body: Any, label: Label) -> List[Tuple[str, Any]]:
    """(id, label) pairs of a labels request: one ``{"id", "label"}`` object or a list."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise GroundTruthError("body: an empty list; send {\"id\": ..., \"label\": ...} "
                               "or a list of them")
    pairs = []
    for n, item in enumerate(items):
        where = f"[{n}]" if isinstance(body, list) else "body"
        if not isinstance(item, dict) or set(item) != {"id", "label"}:
            raise GroundTruthError(f"{where}: expected {{\"id\": ..., \"label\": ...}}, "
                                   f"got {json.dumps(item)[:60]}")
        for key, fn in (("id", check_id), ("label", lambda v: check(label, v))):
            try:
                item = {**item, key: fn(item[key])}
            except GroundTruthError as e:
                raise GroundTruthError(f"{where}.{key}: {e}") from None
        pairs.append((item["id"], item["label"]))
    return pairs


def read_csv(path: str, label: Label) -> List[Tuple[str, Any]]:
    """(id, label) pairs of a CSV file with columns request_id,label; every row checked."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise GroundTruthError(f"{path}: no column {missing[0]!r} in the header "
                                       f"(expected {','.join(CSV_COLUMNS)})")
            pairs = []
            for row in reader:
                pairs.append(_csv_row(path, reader.line_num, row, label))
    except FileNotFoundError:
        raise GroundTruthError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise GroundTruthError(f"{path}: not UTF-8 text") from None
    if not pairs:
        raise GroundTruthError(f"{path}: no rows after the header")
    return pairs


def _csv_row(path: str, line: int, row: dict, label: Label) -> Tuple[str, Any]:
    values = []
    for column, fn in (("request_id", check_id), ("label", lambda v: check(label, v))):
        try:
            values.append(fn(row[column]))
        except GroundTruthError as e:
            raise GroundTruthError(f"{path}: line {line}: column {column}: {e}") from None
    return values[0], values[1]


class GroundTruthLog:
    """Appends labels to the ground-truth file, one writer at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, pairs: List[Tuple[str, Any]]) -> int:
        lines = "".join(json.dumps({"id": i, "label": v, "time": now()}) + "\n"
                        for i, v in pairs)
        with self._lock:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(lines)
        return len(pairs)
