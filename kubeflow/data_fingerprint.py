"""The compiled spec's ``DataFingerprint`` task: what TFX's ExampleGen driver does for the cache.

Open-source KFP keys its cache on a task's input artifact IDs, parameter values, image and
arguments (``cacheutils.GenerateCacheKey``), and it runs no TFX driver. CsvExampleGen has no
input artifacts and constant parameters, so without this task every run after the first is a
cache hit on the first run's examples, however many spans land. This task is never cached: it
resolves the span window the ExampleGen executor will read (the latest span under
``data_root``, a folder or an ``s3://`` URI, or ``--span``) and outputs the content fingerprint of those files as a
parameter, which the compiler passes to CsvExampleGen. New data, as a new span or new bytes
at the same path, changes CsvExampleGen's cache key and so everything downstream of it.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from components.lib import spans


def fingerprint(data_root: str, span_pattern: str, window: int, span: Optional[int] = None) -> str:
    """``"span 3: <sha256 prefix>"`` for each span of the window, oldest first."""
    end = spans.resolve_span(data_root, span_pattern, span)
    chosen = spans.window(data_root, span_pattern, end, window)
    # The executor's own fingerprint of a span's files (it imports TFX, so only once needed).
    from components.lib.spans import content_fingerprint

    return "; ".join(f"span {s}: {content_fingerprint(files)}" for s, files in chosen.items())


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_root", required=True)
    parser.add_argument("--span_pattern", required=True)
    parser.add_argument("--window", type=int, default=1)
    parser.add_argument("--span", type=int, default=None)
    parser.add_argument("--output", required=True, help="the output parameter's file")
    args = parser.parse_args(argv)
    try:
        value = fingerprint(args.data_root, args.span_pattern, args.window, args.span)
    except (spans.SpanError, OSError) as e:  # OSError: an object store failing mid-read
        print(f"Error: {e}", file=sys.stderr)
        return 1
    write_output_parameter(args.output, "input_fingerprint", value)
    return 0


def write_output_parameter(path: str, name: str, value: str) -> None:
    """Writes a task's output parameter where the launcher reads it, and says it in the log."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(value)
    print(f"{name}: {value}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
