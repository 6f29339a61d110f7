"""The model server's HTTP side: TF Serving's REST API, labels, a CloudEvents receiver and
Prometheus metrics, as one Starlette app over a ``ModelStore``.

Routes (``{name}`` is the pipeline name):

* ``GET  /v1/models/{name}[/versions/{v}]``            version status
* ``GET  /v1/models/{name}[/versions/{v}]/metadata``   signatures
* ``POST /v1/models/{name}[/versions/{v}]:predict``    ``instances`` or ``inputs``
* ``POST /v1/models/{name}/labels``                   ground truth (see ground_truth.py)
* ``POST /v1/events``                                 KServe payload-logger CloudEvents
* ``GET  /metrics``                                   Prometheus text format
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from components.lib.label import Label
from pipeline.serving import codec, ground_truth
from pipeline.serving import prediction_log as plog
from pipeline.serving.codec import RequestError
from pipeline.serving.models import ModelStore

_MODEL_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
                         r"(?P<verb>:predict|/metadata|/labels)?$")


class Metrics:
    """The server's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("serving_requests", "HTTP requests, by route and status code",
                                ["route", "code"], registry=self.registry)
        self.errors = Counter("serving_errors", "Requests answered with a 4xx or 5xx status, "
                              "by route and status code", ["route", "code"],
                              registry=self.registry)
        self.latency = Histogram("serving_request_seconds", "Time to answer, by route",
                                 ["route"], registry=self.registry,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
        self.rows = Counter("serving_predicted_rows", "Rows predicted", registry=self.registry)
        self.version = Gauge("serving_model_version", "The version serving now (0: none)",
                             registry=self.registry)
        self.load_failures = Counter("serving_model_load_failures",
                                     "Versions that failed to load (the previous one kept "
                                     "serving)", registry=self.registry)
        self.logged = Counter("serving_prediction_log_events", "Events written to the "
                              "prediction log", registry=self.registry)
        self.dropped = Counter("serving_prediction_log_dropped", "Events not written to the "
                               "prediction log, by reason", ["reason"], registry=self.registry)


@dataclass
class Settings:
    name: str                   # the pipeline name: the model's name in every URL
    max_body_bytes: int
    source: str                 # the CloudEvents source prefix, http://host:port


class _TooLarge(RequestError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"body: larger than {limit} bytes (serving.max_body_bytes)", 413)


def _error(message: str, status: int, request_id: Optional[str] = None) -> JSONResponse:
    headers = {"X-Request-Id": request_id} if request_id else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes without reading all of it."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class Server:
    """The routes over a model store, a prediction log and a ground-truth log."""

    def __init__(self, settings: Settings, store: ModelStore, log: plog.PredictionLog,
                 truth: ground_truth.GroundTruthLog, label: Label, metrics: Metrics) -> None:
        self.settings, self.store, self.log, self.truth = settings, store, log, truth
        self.label, self.metrics = label, metrics

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/metrics", self._timed("metrics", self.metrics_page), methods=["GET"]),
            Route("/v1/events", self._timed("events", self.events), methods=["POST"]),
            Route("/v1/models/{rest:path}", self._timed("models", self.models),
                  methods=["GET", "POST"])])

    def _timed(self, route: str, handler):
        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except RequestError as e:
                response = _error(str(e), e.status)
            except Exception as e:  # e.g. the ground-truth file cannot be written: say so
                response = _error(f"{type(e).__name__}: {e}".splitlines()[0], 500)
            label = getattr(request.state, "route", route)
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)
            self.metrics.requests.labels(label, str(response.status_code)).inc()
            if response.status_code >= 400:
                self.metrics.errors.labels(label, str(response.status_code)).inc()
            return response
        return endpoint

    async def metrics_page(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def models(self, request: Request) -> Response:
        match = _MODEL_PATH.match(request.url.path)
        if match is None:
            raise RequestError(f"{request.url.path}: no such route", 404)
        verb = match.group("verb") or ""
        request.state.route = {":predict": "predict", "/metadata": "metadata",
                               "/labels": "labels"}.get(verb, "status")
        if match.group("name") != self.settings.name:
            raise RequestError(f"model {match.group('name')!r} not found (this server serves "
                               f"{self.settings.name!r})", 404)
        wanted = codec.version_of(match.group("version"))
        expected = "POST" if verb in (":predict", "/labels") else "GET"
        if request.method != expected:
            raise RequestError(f"{request.url.path}: use {expected}", 405)
        if verb == "/labels":
            if wanted is not None:
                raise RequestError("labels: post them to /v1/models/{name}/labels", 404)
            return await self.labels(request)
        if verb == ":predict":
            return await self.predict(request, wanted)
        model = self._model(wanted)
        if verb == "/metadata":
            return JSONResponse({"model_spec": {"name": self.settings.name, "signature_name": "",
                                                "version": str(model.version)},
                                 "metadata": model.metadata()})
        return JSONResponse({"model_version_status": [
            {"version": str(model.version), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}]})

    def _model(self, wanted: Optional[int]):
        model = self.store.current
        if model is None:
            raise RequestError(f"model {self.settings.name!r}: no version loaded yet from "
                               f"{self.store.serving_dir}", 404)
        if wanted is not None and wanted != model.version:
            why = f" (it failed to load: {self.store.failed[wanted]})" \
                if wanted in self.store.failed else ""
            raise RequestError(f"version {wanted} of {self.settings.name!r} is not served; "
                               f"version {model.version} is{why}", 404)
        return model

    async def predict(self, request: Request, wanted: Optional[int]) -> Response:
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        body = await _body(request, self.settings.max_body_bytes)
        try:
            parsed = codec.parse_json(body)
        except RequestError as e:
            return _error(str(e), e.status, request_id)
        model = self.store.current
        source = f"{self.settings.source}/v1/models/{self.settings.name}"
        version = model.version if model else ""
        self.log.append(plog.event(plog.REQUEST_TYPE, request_id, source, self.settings.name,
                                   version, parsed))
        try:
            model = self._model(wanted)
            version = model.version
            parsed_request = codec.parse_predict(parsed, model)
            outputs = await run_in_threadpool(model.predict, parsed_request.signature,
                                              parsed_request.columns)
            status, answer = 200, codec.response(outputs, parsed_request.row_format)
            self.metrics.rows.inc(parsed_request.rows)
        except RequestError as e:
            status, answer = e.status, {"error": str(e)}
        except Exception as e:  # TensorFlow's own check of a value, e.g. a bad tf.Example
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            status, answer = 400, {"error": f"the model could not run on the input: {first}"}
        self.log.append(plog.event(plog.RESPONSE_TYPE, request_id, source, self.settings.name,
                                   version, answer))
        return JSONResponse(answer, status_code=status, headers={"X-Request-Id": request_id})

    async def labels(self, request: Request) -> Response:
        body = await _body(request, self.settings.max_body_bytes)
        try:
            pairs = ground_truth.parse_body(json.loads(body), self.label)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(f"body: not valid JSON ({e})") from None
        except ground_truth.GroundTruthError as e:
            raise RequestError(str(e)) from None
        written = await run_in_threadpool(self.truth.append, pairs)
        return JSONResponse({"written": written})

    async def events(self, request: Request) -> Response:
        """A KServe payload-logger CloudEvent in binary mode (ce-* headers, JSON body),
        appended to the prediction log as the server's own events are."""
        body = await _body(request, self.settings.max_body_bytes)
        attributes: Dict[str, Any] = {k[3:]: v for k, v in request.headers.items()
                                      if k.startswith("ce-")}
        for required in ("specversion", "id", "type", "source"):
            if not attributes.get(required):
                raise RequestError(f"ce-{required}: missing header (a binary-mode CloudEvent)")
        try:
            data = json.loads(body) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RequestError(f"body: not valid JSON ({e})") from None
        attributes.setdefault("time", plog.now())
        attributes["datacontenttype"] = request.headers.get("content-type", "application/json")
        self.log.append({**attributes, "data": data})
        return Response(status_code=202)
