"""A LOOPBACK STAND-IN for the Kubeflow Pipelines v2beta1 REST API, for tests only.

No Kubeflow cluster runs here, so the real ``kfp.Client`` talks to this small server on
127.0.0.1 instead. It implements just the endpoints ``kfp.Client`` calls to create
experiments, runs and recurring runs, answers like the real API, and records every request
(method, path, headers, JSON body) for the tests to assert on. With ``status`` set it answers
every request with that HTTP status instead (e.g. 401 for bad credentials).
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlparse


@dataclass
class Request:
    method: str
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]
    body: Any
    raw: str


@dataclass
class KfpStandIn:
    status: Optional[int] = None
    requests: List[Request] = field(default_factory=list)
    experiments: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                url = urlparse(self.path)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                standin.requests.append(Request(self.command, url.path, parse_qs(url.query),
                                                dict(self.headers), body, raw))
                status, answer = standin.answer(self.command, url.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "KfpStandIn":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, method: str, path: str, body: Any):
        if self.status:
            return self.status, {"error_message": "stand-in: refused", "code": 16}
        if path == "/apis/v2beta1/healthz":
            return 200, {"multi_user": False}
        if path == "/apis/v2beta1/experiments" and method == "GET":
            return 200, {"experiments": list(self.experiments.values()),
                         "total_size": len(self.experiments)}
        if path == "/apis/v2beta1/experiments" and method == "POST":
            experiment = {**body, "experiment_id": f"exp-{len(self.experiments) + 1}"}
            self.experiments[experiment["experiment_id"]] = experiment
            return 200, experiment
        if path == "/apis/v2beta1/runs" and method == "POST":
            return 200, {**body, "run_id": "run-0001", "state": "PENDING"}
        if path == "/apis/v2beta1/recurringruns" and method == "POST":
            return 200, {**body, "recurring_run_id": "rr-0001", "status": "ENABLED"}
        return 404, {"error_message": f"stand-in does not implement {method} {path}"}
