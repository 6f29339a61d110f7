"""The traffic reader: served rows, their predictions and their labels, from the prediction log.

It reads what the model server writes (PLAN contract, ``<output_root>/serving/``): the
CloudEvents in ``log/events.jsonl`` and its rotated files ``events.jsonl.N`` (oldest, the
highest N, first) and the labels in ``ground_truth.jsonl``. A request event and its response
event share ``id``; a batch of N rows becomes N rows named ``<id>/<i>``, a one-row request one
row named ``<id>``. A request row may be a raw-feature dict, a column of ``inputs``, or a
serialized tf.Example (``{"b64": ...}``). A line that cannot be read is skipped and counted;
:attr:`Traffic.problems` names each file and its first bad line.
"""
from __future__ import annotations

import base64
import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pandas as pd

LOG_DIR, LOG_FILE, GROUND_TRUTH = "log", "events.jsonl", "ground_truth.jsonl"
REQUEST = "org.kubeflow.serving.inference.request"
RESPONSE = "org.kubeflow.serving.inference.response"
# The columns every traffic row has besides its features and prediction outputs.
ROW_ID, REQUEST_ID, TIME, VERSION, LABEL = "row_id", "request_id", "time", "version", "label"


class BadEvent(ValueError):
    """A log or ground truth line that does not follow the contract."""


@dataclass
class Skipped:
    """Malformed lines of one file: how many, and the first one's number and reason."""
    path: str
    first_line: int
    reason: str
    count: int = 1

    def line(self) -> str:
        return (f"{self.path}: skipped {self.count} malformed line(s); first at line "
                f"{self.first_line}: {self.reason}")


@dataclass
class Traffic:
    """The served rows (one per row of each answered request) and what could not be read."""
    rows: pd.DataFrame
    features: List[str] = field(default_factory=list)   # columns sent in the requests
    outputs: List[str] = field(default_factory=list)    # columns of the responses
    skipped: List[Skipped] = field(default_factory=list)
    unanswered: int = 0       # requests without a response (or responses without a request)

    @property
    def labelled(self) -> pd.DataFrame:
        return self.rows[self.rows[LABEL].notna()] if len(self.rows) else self.rows

    @property
    def problems(self) -> List[str]:
        lines = [s.line() for s in self.skipped]
        if self.unanswered:
            lines.append(f"{self.unanswered} request(s) or response(s) without their other "
                         "half in the log (not counted as rows)")
        return lines


def log_files(serving_root: str) -> List[str]:
    """The prediction log's files, oldest first: ``events.jsonl.N`` (highest N) ... current."""
    folder = os.path.join(serving_root, LOG_DIR)
    rotated = [p for p in glob.glob(os.path.join(folder, LOG_FILE + ".*"))
               if re.fullmatch(r"\d+", p.rsplit(".", 1)[-1])]
    ordered = sorted(rotated, key=lambda p: -int(p.rsplit(".", 1)[-1]))
    current = os.path.join(folder, LOG_FILE)
    return ordered + ([current] if os.path.isfile(current) else [])


def _lines(path: str, skipped: List[Skipped]
           ) -> Iterator[Tuple[int, Dict[str, Any], Callable[[str], None]]]:
    """(line number, JSON object, a recorder of this line's problem) per non-blank line."""
    tally: Dict[str, Skipped] = {}

    def skip(number: int, reason: str) -> None:
        if path in tally:
            tally[path].count += 1
        else:
            tally[path] = Skipped(path, number, reason)
            skipped.append(tally[path])

    with open(path, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError:
                skip(number, "not JSON")
                continue
            if not isinstance(value, dict):
                skip(number, "not a JSON object")
                continue
            yield number, value, lambda reason, n=number: skip(n, reason)


def _feature_value(feature: Any) -> Any:
    """One tf.train.Feature as a scalar (one value), a list, or None (no value)."""
    kind = feature.WhichOneof("kind")
    values = list(getattr(feature, kind).value) if kind else []
    if kind == "bytes_list":
        values = [v.decode("utf-8", "replace") for v in values]
    return None if not values else values[0] if len(values) == 1 else values


def _parse_example(encoded: str) -> Dict[str, Any]:
    import tensorflow as tf

    try:
        example = tf.train.Example.FromString(base64.b64decode(encoded, validate=True))
    except Exception as e:  # binascii.Error, protobuf's DecodeError
        raise BadEvent(f"b64: not a serialized tf.Example ({type(e).__name__})") from None
    return {name: _feature_value(f) for name, f in sorted(example.features.feature.items())}


def _scalar(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _row(instance: Any) -> Dict[str, Any]:
    """One request row: raw features, {"b64": example}, or {"<input>": {"b64": example}}."""
    if not isinstance(instance, dict):
        raise BadEvent("a row is not an object of features or {\"b64\": ...}")
    if set(instance) == {"b64"}:
        return _parse_example(instance["b64"])
    if len(instance) == 1:
        (only,) = instance.values()
        if isinstance(only, dict) and set(only) == {"b64"}:
            return _parse_example(only["b64"])
    return {name: _scalar(value) for name, value in instance.items()}


def _columns_to_rows(columns: Dict[str, Any]) -> List[Dict[str, Any]]:
    lengths = {len(v) for v in columns.values() if isinstance(v, list)}
    if len(lengths) != 1 or not all(isinstance(v, list) for v in columns.values()):
        raise BadEvent("inputs: columns are not lists of one length")
    (n,) = lengths
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def request_rows(data: Any) -> List[Dict[str, Any]]:
    """The rows of a TF Serving request body (``instances`` rows or ``inputs`` columns)."""
    if not isinstance(data, dict):
        raise BadEvent("request data is not a JSON object")
    if isinstance(data.get("instances"), list):
        instances = data["instances"]
    elif isinstance(data.get("inputs"), dict):
        columns = data["inputs"]
        if len(columns) == 1 and isinstance(next(iter(columns.values())), list):
            instances = next(iter(columns.values()))  # one input: its values are the rows
            if instances and not isinstance(instances[0], dict):
                instances = _columns_to_rows(columns)
        else:
            instances = _columns_to_rows(columns)
    elif isinstance(data.get("inputs"), list):
        instances = data["inputs"]
    else:
        raise BadEvent("request data has neither 'instances' nor 'inputs'")
    if not instances:
        raise BadEvent("request has no rows")
    return [_row(instance) for instance in instances]


def response_rows(data: Any, count: int) -> List[Dict[str, Any]]:
    """Per row, the outputs of a TF Serving response body (``predictions`` or ``outputs``)."""
    if not isinstance(data, dict):
        raise BadEvent("response data is not a JSON object")
    if isinstance(data.get("predictions"), list):
        rows = data["predictions"]
    elif isinstance(data.get("outputs"), dict):
        rows = _columns_to_rows(data["outputs"])
    elif isinstance(data.get("outputs"), list):
        rows = data["outputs"]
    else:
        raise BadEvent("response data has neither 'predictions' nor 'outputs'")
    if len(rows) != count:
        raise BadEvent(f"response has {len(rows)} prediction(s) for {count} row(s)")
    return [{k: _scalar(v) for k, v in r.items()} if isinstance(r, dict)
            else {"predictions": _scalar(r)} for r in rows]


def _events(files: List[str], skipped: List[Skipped]) -> Tuple[Dict[str, tuple], Dict[str, tuple]]:
    """{id: (event, rows, skip)} for requests and {id: (event, None, skip)} for responses."""
    requests: Dict[str, tuple] = {}
    responses: Dict[str, tuple] = {}
    for path in files:
        for _, event, skip in _lines(path, skipped):
            kind, ident = event.get("type"), event.get("id")
            if not isinstance(ident, str) or not ident or kind not in (REQUEST, RESPONSE):
                skip("no 'id', or 'type' is not an inference request or response")
                continue
            if kind == REQUEST:
                try:
                    requests[ident] = (event, request_rows(event.get("data")), skip)
                except BadEvent as e:
                    skip(str(e))
            else:
                responses[ident] = (event, None, skip)
    return requests, responses


def read_labels(serving_root: str, skipped: List[Skipped]) -> Dict[str, Any]:
    """{row id: label} from ground truth; a later line for an id replaces an earlier one."""
    path = os.path.join(serving_root, GROUND_TRUTH)
    labels: Dict[str, Any] = {}
    if not os.path.isfile(path):
        return labels
    for _, line, skip in _lines(path, skipped):
        ident, label = line.get("id"), line.get("label")
        if not isinstance(ident, str) or not ident or "label" not in line \
                or isinstance(label, (dict, list)):
            skip("needs a string 'id' and a scalar 'label'")
            continue
        labels[ident] = label
    return labels


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def read_traffic(serving_root: str) -> Traffic:
    """Every answered row in the log under ``serving_root``, with its label if one is known.

    Columns: ``row_id``, ``request_id``, ``time`` (of the request), ``version`` (the served
    model version, the event's ``endpoint``), the raw features, the prediction outputs
    (e.g. ``probabilities``, ``class_ids``, ``classes``; a regressor's ``predictions``) and
    ``label`` (None when no ground truth names the row).
    """
    skipped: List[Skipped] = []
    requests, responses = _events(log_files(serving_root), skipped)
    labels = read_labels(serving_root, skipped)
    records = []
    features: Dict[str, None] = {}
    outputs: Dict[str, None] = {}
    for ident, (event, rows, _) in requests.items():
        if ident not in responses:
            continue
        answer, _, skip = responses[ident]
        try:
            answers = response_rows(answer.get("data"), len(rows))
        except BadEvent as e:
            skip(str(e))
            continue
        for i, (sent, predicted) in enumerate(zip(rows, answers)):
            row_id = ident if len(rows) == 1 else f"{ident}/{i}"
            label = labels.get(row_id, labels.get(f"{ident}/{i}") if len(rows) == 1 else None)
            features.update(dict.fromkeys(sent))
            outputs.update(dict.fromkeys(predicted))
            records.append({ROW_ID: row_id, REQUEST_ID: ident, TIME: event.get("time"),
                            VERSION: str(event.get("endpoint", answer.get("endpoint", ""))),
                            **sent, **predicted, LABEL: None if _missing(label) else label})
    unanswered = len(set(requests) ^ set(responses))
    columns = [ROW_ID, REQUEST_ID, TIME, VERSION, LABEL]
    # Objects as sent: an INT column with a missing value stays integers, not floats.
    frame = pd.DataFrame(records or None, columns=None if records else columns, dtype=object)
    frame = frame[columns[:4] + [c for c in frame.columns if c not in columns] + [LABEL]]
    return Traffic(frame, list(features), list(outputs), skipped, unanswered)


def feature_batch(traffic_rows: pd.DataFrame, columns: List[str]):
    """The served features as a record batch of list columns, typed as CsvExampleGen types a
    CSV column (all integers: int64, numbers: float32, else bytes), for TFDV statistics."""
    import pyarrow as pa

    from components.lib.csv_read import as_list_array

    arrays = []
    for name in columns:
        values = [None if _missing(v) else v for v in traffic_rows[name]]
        present = [v for v in values if v is not None]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            kind = pa.int64()
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            kind = pa.float64()
        else:
            kind = pa.string()
            values = [None if v is None else v if isinstance(v, str) else json.dumps(v)
                      for v in values]
        arrays.append(as_list_array(pa.array(values, type=kind)))
    return pa.RecordBatch.from_arrays(arrays, columns)
