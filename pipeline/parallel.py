"""Whether a local run fans its Evaluator out over the machine's cores.

TFMA does Python work per example and slice. On the DirectRunner, ``multi_processing`` with
one worker process per core splits that work, but each worker costs about 10 s to start
(importing TensorFlow, loading the model), and a single input file is read by one worker
only. So from ``beam.parallel_from_rows`` input rows on, ExampleGen writes one shard per core
and the Evaluator gets one process per core; below it, one in-memory worker is faster.
Measured at 1M rows: the Evaluator took 82 s in memory and 59 s on 2 processes, while
StatisticsGen (19 -> 20 s) and Transform (20 -> 26 s) got slower, so they stay in memory.
"""
from __future__ import annotations

import os
from typing import List, Optional

from components.lib import spans
from pipeline.config import Config

HEAVY_COMPONENTS = ("CsvExampleGen", "Evaluator")  # ExampleGen: for the shard count


def count_rows(files: List[str], limit: int) -> int:
    """Data rows (lines after each file's header) in ``files``; stops counting at ``limit``."""
    rows = 0
    for path in files:
        with open(path, "rb") as f:
            lines = 0
            for block in iter(lambda: f.read(1 << 20), b""):
                lines += block.count(b"\n")
                if rows + lines > limit:
                    return rows + lines
        rows += max(lines - 1, 0)
    return rows


def window_files(cfg: Config, span: Optional[int]) -> List[str]:
    """The CSV files a run on ``span`` (default: the latest) reads: its span window's."""
    end = span if span is not None else max(
        spans.available_spans(cfg.data.root, cfg.data.span_pattern), default=-1)
    chosen = spans.window(cfg.data.root, cfg.data.span_pattern, end, cfg.data.window)
    return [f for files in chosen.values() for f in files]


def local_beam_args(cfg: Config, span: Optional[int], cores: Optional[int] = None) -> List[str]:
    """Extra DirectRunner arguments for ``HEAVY_COMPONENTS``; none below the threshold or on
    another runner (a Flink cluster sets its own parallelism)."""
    cores = cores or os.cpu_count() or 1
    threshold = cfg.beam.parallel_from_rows
    direct = not any(arg.startswith("--runner=") for arg in cfg.beam_args())
    if not direct or cores < 2 or threshold == 0 or not os.path.isdir(cfg.data.root):
        return []
    if count_rows(window_files(cfg, span), threshold) < threshold:
        return []
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={cores}"]
