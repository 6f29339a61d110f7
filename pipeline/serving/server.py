"""Builds and runs the model server for a config: ``python -m pipeline serve``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from components.lib import label as label_lib
from pipeline.config import Config
from pipeline.serving import app as app_lib
from pipeline.serving import ground_truth, prediction_log
from pipeline.serving.models import ModelStore


@dataclass
class Running:
    server: app_lib.Server
    store: ModelStore
    log: prediction_log.PredictionLog
    metrics: app_lib.Metrics

    def close(self) -> None:
        self.store.stop()
        self.log.flush()


def build(cfg: Config, echo: Callable[[str], None] = lambda line: None) -> Running:
    """The server for ``cfg`` with its first version loaded (if any) and its watcher running.

    ``echo`` gets one line per version swapped in or failing to load."""
    settings = cfg.serving
    metrics = app_lib.Metrics()

    def loaded(version: int) -> None:
        metrics.version.set(version)
        echo(f"Serving version {version} of {cfg.pipeline_name}")

    def failed(version: int, message: str) -> None:
        metrics.load_failures.inc()
        echo(f"Version {version} did not load, still serving the previous one: {message}")

    store = ModelStore(cfg.serving_dir, settings.poll_seconds, loaded, failed)
    log = prediction_log.PredictionLog(
        cfg.prediction_log_dir, settings.log_max_bytes, settings.log_max_files,
        settings.log_queue, on_drop=lambda reason: metrics.dropped.labels(reason).inc(),
        on_write=metrics.logged.inc)
    server = app_lib.Server(
        app_lib.Settings(cfg.pipeline_name, settings.max_body_bytes,
                         f"http://{settings.host}:{settings.port}"),
        store, log, ground_truth.GroundTruthLog(cfg.ground_truth_path),
        label_lib.of_config(cfg), metrics)
    store.start()
    return Running(server, store, log, metrics)


def run(cfg: Config, echo: Callable[[str], None]) -> None:
    """Serves until interrupted."""
    import uvicorn

    running = build(cfg, echo)
    try:
        uvicorn.run(running.server.app(), host=cfg.serving.host, port=cfg.serving.port,
                    log_level="warning", access_log=False)
    finally:
        running.close()
