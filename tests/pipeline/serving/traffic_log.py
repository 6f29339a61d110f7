"""A test helper writing a prediction log and ground truth as the PLAN contract describes.

Tests only: the model server writes the real log. Each ``exchange`` is one request/response
event pair in CloudEvents structured JSON form.
"""
from __future__ import annotations

import base64
import json
import os
import uuid
from typing import Any, Dict, Iterable, List, Optional

from pipeline.serving import traffic

TIME = "2026-12-05T00:00:00Z"


def example_b64(features: Dict[str, Any]) -> str:
    """A raw-feature row as a serialized tf.Example, base64 (TF Serving's {"b64": ...})."""
    import tensorflow as tf

    feature = {}
    for name, value in features.items():
        if value is None:
            continue
        if isinstance(value, str):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return base64.b64encode(example.SerializeToString()).decode()


def event(kind: str, ident: str, data: Any, version: str = "1", name: str = "penguins",
          time: str = TIME) -> Dict[str, Any]:
    return {"specversion": "1.0", "id": ident, "type": kind,
            "source": f"http://localhost:8501/v1/models/{name}", "time": time,
            "datacontenttype": "application/json", "inferenceservicename": name,
            "endpoint": version, "component": "predictor", "data": data}


class LogWriter:
    """Appends event pairs to ``<serving_root>/log/<file>`` and labels to ground truth."""

    def __init__(self, serving_root: str, file: str = traffic.LOG_FILE):
        self.root = serving_root
        self.path = os.path.join(serving_root, traffic.LOG_DIR, file)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def line(self, text: str, path: Optional[str] = None) -> None:
        with open(path or self.path, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def exchange(self, request: Dict[str, Any], predictions: List[Any], version: str = "1",
                 ident: Optional[str] = None) -> str:
        ident = ident or str(uuid.uuid4())
        self.line(json.dumps(event(traffic.REQUEST, ident, request, version)))
        self.line(json.dumps(event(traffic.RESPONSE, ident, {"predictions": predictions},
                                   version)))
        return ident

    def label(self, row_id: str, label: Any) -> None:
        self.line(json.dumps({"id": row_id, "label": label, "time": TIME}),
                  os.path.join(self.root, traffic.GROUND_TRUTH))


def row_ids(ident: str, count: int) -> List[str]:
    """The ground truth names of a request's rows."""
    return [ident] if count == 1 else [f"{ident}/{i}" for i in range(count)]


def classifier_prediction(classes: List[str], chosen: str) -> Dict[str, Any]:
    """A response row of the penguins classifier, certain of ``chosen``."""
    i = classes.index(chosen)
    return {"probabilities": [0.9 if c == chosen else 0.1 / (len(classes) - 1) for c in classes],
            "class_ids": [i], "classes": [chosen]}


def serve_rows(writer: LogWriter, rows: Iterable[Dict[str, Any]], classes: List[str],
               predict, label: Optional[str] = None, batch: int = 1, version: str = "1",
               form: str = "instances", labels=None) -> List[str]:
    """Logs ``rows`` (without ``label``) in requests of ``batch`` rows, predicted by
    ``predict(row)``; labels each row from ``labels(row)`` (default: its ``label`` column)."""
    rows = list(rows)
    ids = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        features = [{k: v for k, v in r.items() if k != label} for r in chunk]
        if form == "b64":
            request = {"instances": [{"b64": example_b64(f)} for f in features]}
        elif form == "inputs":
            request = {"inputs": {k: [f.get(k) for f in features] for k in features[0]}}
        else:
            request = {"instances": features}
        ident = writer.exchange(request, [classifier_prediction(classes, predict(r))
                                          for r in chunk], version)
        for row_id, r in zip(row_ids(ident, len(chunk)), chunk):
            value = labels(r) if labels else (r.get(label) if label else None)
            if value is not None:
                writer.label(row_id, value)
        ids.append(ident)
    return ids


def served_predictions(model_dir: str, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """What the served SavedModel answers for ``rows`` (its serving_default signature), in
    TF Serving's row format."""
    import tensorflow as tf

    model = tf.saved_model.load(model_dir)
    examples = tf.constant([base64.b64decode(example_b64(r)) for r in rows])
    outputs = {k: v.numpy() for k, v in model.signatures["serving_default"](examples=examples).items()}
    answers = []
    for i in range(len(rows)):
        answer = {}
        for name, values in outputs.items():
            value = values[i]
            value = value.tolist() if hasattr(value, "tolist") else value
            answer[name] = value.decode() if isinstance(value, bytes) else value
        answers.append(answer)
    return answers


def schema_rows(csv_path: str, schema_path: str) -> List[Dict[str, Any]]:
    """A CSV's rows typed as the schema says (a client sends 45.0 for a FLOAT, not 45)."""
    import csv

    from tensorflow_metadata.proto.v0 import schema_pb2

    from components.lib.label import read_schema

    kinds = {f.name: f.type for f in read_schema(schema_path).feature}
    cast = {schema_pb2.FLOAT: float, schema_pb2.INT: int}
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [{k: None if v in ("", "NA") else cast.get(kinds.get(k), str)(v)
                 for k, v in row.items()} for row in csv.DictReader(f)]
