"""The served model: the highest complete version under the push destination, swapped in
without a restart when a push or a rollback adds a higher one.

A version is loaded only once its folder has stopped changing for one poll (the Pusher's
rename makes a version appear whole; a folder copied in by hand may still be growing), and
the new model is swapped in only after it loaded completely. If loading fails, the old model
keeps serving; that version is tried again when its files change.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from components.lib.serving_store import version_dirs

DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class Input:
    name: str
    dtype: tf.DType


@dataclass
class LoadedModel:
    """One loaded version and its signatures (the SavedModel object is kept alive here)."""
    version: int
    path: str
    saved_model: Any
    signatures: Dict[str, Any] = field(default_factory=dict)

    def inputs(self, signature: str) -> List[Input]:
        _, specs = self.signatures[signature].structured_input_signature
        return [Input(name, spec.dtype) for name, spec in sorted(specs.items())]

    def predict(self, signature: str, columns: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Runs ``signature`` on one column per input; returns one array per output."""
        function = self.signatures[signature]
        tensors = {i.name: tf.constant(columns[i.name], dtype=i.dtype)
                   for i in self.inputs(signature)}
        return {name: value.numpy() for name, value in function(**tensors).items()}

    def metadata(self) -> Dict[str, Any]:
        """The signature defs in TF Serving's ``GET .../metadata`` JSON shape."""
        defs = {}
        for name, function in sorted(self.signatures.items()):
            _, specs = function.structured_input_signature
            defs[name] = {
                "inputs": {k: _tensor_info(f"{name}_{k}:0", spec.dtype, spec.shape)
                           for k, spec in sorted(specs.items())},
                "outputs": {k: _tensor_info(t.name, t.dtype, t.shape)
                            for k, t in sorted(function.structured_outputs.items())},
                "method_name": "tensorflow/serving/predict"}
        return {"signature_def": {"signature_def": defs}}


def _tensor_info(name: str, dtype: tf.DType, shape: tf.TensorShape) -> Dict[str, Any]:
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in shape.as_list()] \
        if shape.rank is not None else []
    return {"dtype": types_pb2.DataType.Name(dtype.as_datatype_enum), "name": name,
            "tensor_shape": {"dim": dims, "unknown_rank": shape.rank is None}}


def load(version: int, path: str) -> LoadedModel:
    saved = tf.saved_model.load(path)
    signatures = {name: fn for name, fn in saved.signatures.items()
                  if name != "transform_features"}  # TFMA's, not a prediction
    if DEFAULT_SIGNATURE not in signatures:
        raise ValueError(f"{path}: no {DEFAULT_SIGNATURE} signature")
    model = LoadedModel(version, path, saved, signatures)
    for name in signatures:  # the first call is slow (TF's first run); not a user's request
        model.predict(name, {i.name: np.zeros([0], i.dtype.as_numpy_dtype)
                             for i in model.inputs(name)})
    return model


def folder_stamp(path: str) -> Tuple[Tuple[str, int, int], ...]:
    """Every file's relative path, size and modification time: changes while a copy grows."""
    found = []
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                info = os.stat(full)
            except FileNotFoundError:
                continue
            found.append((os.path.relpath(full, path), info.st_size, info.st_mtime_ns))
    return tuple(sorted(found))


class ModelStore:
    """Watches ``serving_dir`` and holds the model serving now.

    ``on_loaded(version)`` and ``on_failed(version, message)`` report swaps and failed loads
    (metrics and the server's log line).
    """

    def __init__(self, serving_dir: str, poll_seconds: float,
                 on_loaded: Callable[[int], None] = lambda version: None,
                 on_failed: Callable[[int, str], None] = lambda version, message: None) -> None:
        self.serving_dir, self.poll_seconds = serving_dir, poll_seconds
        self._on_loaded, self._on_failed = on_loaded, on_failed
        self.current: Optional[LoadedModel] = None
        self.failed: Dict[int, str] = {}             # version -> why it did not load
        self._failed_stamps: Dict[int, tuple] = {}
        self._seen: Dict[int, tuple] = {}            # version -> stamp at the previous poll
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def refresh(self, settle: bool = True) -> Optional[int]:
        """Loads the highest complete version if it is not the one serving; returns the
        serving version. With ``settle``, a folder is loaded only once it is unchanged since
        the previous call."""
        versions = version_dirs(self.serving_dir)
        if not versions:
            return self.version
        target = max(versions)
        if self.current is not None and self.current.version == target:
            return target
        stamp = folder_stamp(versions[target])
        previous, self._seen = self._seen.get(target), {target: stamp}
        if (settle and previous != stamp) or self._failed_stamps.get(target) == stamp:
            return self.version
        try:
            model = load(target, versions[target])
        except Exception as e:  # any load error: keep the model that serves
            message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            self.failed[target], self._failed_stamps[target] = message, stamp
            self._on_failed(target, message)
            return self.version
        self.failed.pop(target, None)
        self.current = model  # one reference swap: a request sees the old or the new model
        self._on_loaded(target)
        return target

    @property
    def version(self) -> Optional[int]:
        model = self.current
        return model.version if model else None

    def start(self) -> None:
        self.refresh(settle=False)
        self._thread = threading.Thread(target=self._poll, name="model-store", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except OSError:  # e.g. a version folder removed while listed: look again next poll
                continue
