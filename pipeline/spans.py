"""Finding data spans: folders named by the span pattern, e.g. ``span-3/*.csv``."""
from __future__ import annotations

import glob
import os
import re
from typing import Dict, List, Optional


class SpanError(ValueError):
    """No usable span; the message names the data folder and the pattern."""


def check_pattern(pattern: str) -> None:
    """A span pattern must stay below the data root: no absolute path, no '..' part."""
    if os.path.isabs(pattern) or ".." in pattern.split("/"):
        raise SpanError(f"span pattern {pattern!r} must stay inside the data root "
                        "(no absolute path, no '..')")


def available_spans(root: str, pattern: str) -> Dict[int, List[str]]:
    """{span number: sorted files} for every span folder under ``root``."""
    check_pattern(pattern)
    before, _, after = pattern.partition("{SPAN}")
    regex = re.compile(re.escape(before) + r"(\d+)" + re.escape(after).replace(r"\*", "[^/]*"))
    spans: Dict[int, List[str]] = {}
    for path in glob.glob(os.path.join(root, before + "*" + after)):
        match = regex.fullmatch(os.path.relpath(path, root))
        if match and os.path.isfile(path):
            spans.setdefault(int(match.group(1)), []).append(path)
    return {span: sorted(files) for span, files in sorted(spans.items())}


def window(root: str, pattern: str, end: int, size: int) -> Dict[int, List[str]]:
    """{span: files} of the last ``size`` spans with files up to ``end``, as the ExampleGen
    executor picks them (a span without files is skipped, not counted)."""
    available = available_spans(root, pattern)
    return {s: available[s] for s in [s for s in available if s <= end][-size:]}


def resolve_span(root: str, pattern: str, span: Optional[int] = None) -> int:
    """The requested span if it has files, else the latest; a clear error if none."""
    if not os.path.isdir(root):
        raise SpanError(f"{root}: data folder does not exist")
    spans = available_spans(root, pattern)
    if span is None:
        if not spans:
            raise SpanError(f"{root}: no span has files matching {pattern!r}")
        return max(spans)
    if span not in spans:
        listed = ", ".join(map(str, spans)) or "none"
        raise SpanError(f"{root}: span {span} has no files matching {pattern!r} (spans: {listed})")
    return span
