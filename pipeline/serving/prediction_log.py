"""The prediction log writer: every request and response as one CloudEvent per JSON line.

The file layout and the event shape are the contract the monitoring side reads (see
docs/serving.md): ``<output_root>/serving/log/events.jsonl``, rotated to ``events.jsonl.1``,
``.2``, ... (oldest highest) at ``serving.log_max_bytes``, at most ``serving.log_max_files``
files. Events are written by one background thread from a bounded queue, so a slow or failing
disk never slows or fails a response: when the queue is full, a line is larger than a whole
file, or the write fails, the event is dropped and counted.
"""
from __future__ import annotations

import datetime
import json
import os
import queue
import threading
from typing import Any, Callable, Dict

FILE_NAME = "events.jsonl"
REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


def now() -> str:
    """The current time, RFC 3339 in UTC."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds") \
        .replace("+00:00", "Z")


def event(kind: str, request_id: str, source: str, service: str, version: Any,
          data: Any) -> Dict[str, Any]:
    """One CloudEvent 1.0 with the attributes KServe's payload logger sends."""
    return {"specversion": "1.0", "id": request_id, "type": kind, "source": source,
            "time": now(), "datacontenttype": "application/json",
            "inferenceservicename": service, "endpoint": str(version), "component": "predictor",
            "data": data}


class PredictionLog:
    """Appends events to ``folder`` from a background thread; ``on_drop(reason)`` counts the
    events it could not write (``queue_full``, ``too_large``, ``write_error``)."""

    def __init__(self, folder: str, max_bytes: int, max_files: int, queue_size: int,
                 on_drop: Callable[[str], None] = lambda reason: None,
                 on_write: Callable[[], None] = lambda: None) -> None:
        self.folder, self.max_bytes, self.max_files = folder, max_bytes, max_files
        self._queue: "queue.Queue[str]" = queue.Queue(maxsize=queue_size)
        self._on_drop, self._on_write = on_drop, on_write
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    @property
    def path(self) -> str:
        return os.path.join(self.folder, FILE_NAME)

    def append(self, cloud_event: Dict[str, Any]) -> None:
        """Queues one event; never blocks and never raises."""
        try:
            line = json.dumps(cloud_event, separators=(",", ":"), allow_nan=False) + "\n"
        except (TypeError, ValueError):
            self._on_drop("not_json")
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self._on_drop("queue_full")

    def flush(self) -> None:
        """Waits until every queued event is written or dropped (tests, shutdown)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            try:
                if self._write(line):
                    self._on_write()
            except OSError:
                self._on_drop("write_error")
            finally:
                self._queue.task_done()

    def _write(self, line: str) -> bool:
        data = line.encode("utf-8")
        if len(data) > self.max_bytes:
            self._on_drop("too_large")
            return False
        os.makedirs(self.folder, exist_ok=True)
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > self.max_bytes:
            self._rotate()
        with open(self.path, "ab") as f:
            f.write(data)
        return True

    def _rotate(self) -> None:
        """events.jsonl -> .1 -> .2 ...; the file past ``max_files`` is removed."""
        oldest = os.path.join(self.folder, f"{FILE_NAME}.{self.max_files - 1}")
        if self.max_files == 1:
            os.remove(self.path)
            return
        if os.path.exists(oldest):
            os.remove(oldest)
        for n in range(self.max_files - 2, 0, -1):
            older = os.path.join(self.folder, f"{FILE_NAME}.{n}")
            if os.path.exists(older):
                os.replace(older, os.path.join(self.folder, f"{FILE_NAME}.{n + 1}"))
        os.replace(self.path, os.path.join(self.folder, f"{FILE_NAME}.1"))
