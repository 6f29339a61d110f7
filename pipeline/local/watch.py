"""``run --watch``: poll the data root and run the pipeline whenever a new span appears.

A span counts as done when ML Metadata has a CsvExampleGen execution (run or cached) that
read it from the same data root, so a restarted watcher does not retrain what is done.
For a cron job instead of a long-running watcher, ``run --watch --max-runs 1 --interval 0``
runs once if the latest span is new and returns at once otherwise.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Optional, Set

from components.lib import spans
from pipeline.metadata import mlmd
from pipeline.config import Config

_DONE = {"COMPLETE", "CACHED"}


def trained_spans(metadata_path: str, data_root: str) -> Set[int]:
    """End spans that CsvExampleGen executions completed for ``data_root``."""
    if not os.path.exists(metadata_path):
        return set()
    done: Set[int] = set()
    with mlmd.open_store(metadata_path) as store:
        for context in store.get_contexts_by_type("node"):
            if context.name.split(".", 1)[-1] != "CsvExampleGen":
                continue
            for execution in store.get_executions_by_context(context.id):
                props = execution.custom_properties
                if (mlmd.STATE_NAMES.get(execution.last_known_state) in _DONE
                        and props["input_base"].string_value == data_root and "span" in props):
                    done.add(int(props["span"].int_value))
    return done


def watch(cfg: Config, run_span: Callable[[int], bool], *, interval: float,
          max_runs: Optional[int], echo: Callable[[str], None] = print,
          sleep: Callable[[float], None] = time.sleep) -> int:
    """Runs ``run_span(span)`` for each new latest span; returns how many runs failed.

    Stops after ``max_runs`` runs (None: never); with ``interval`` 0 it checks once.
    """
    runs = failures = 0
    announced = False
    attempted: Set[int] = set()  # a span whose run failed early is not retried in a loop
    while max_runs is None or runs < max_runs:
        latest = max(spans.available_spans(cfg.data.root, cfg.data.span_pattern), default=None)
        if latest is not None and latest not in attempted | trained_spans(
                cfg.metadata_path, cfg.data.root):
            echo(f"New span {latest} under {cfg.data.root}")
            attempted.add(latest)
            runs += 1
            failures += 0 if run_span(latest) else 1
            announced = False
            continue
        if interval <= 0:
            break
        if not announced:
            echo(f"Watching {cfg.data.root} for a span after {latest} "
                 f"(every {interval:g}s; Ctrl-C stops)")
            announced = True
        sleep(interval)
    return failures
