"""bench/RESULTS.md is shared by several benchmarks: each one rewrites only its own ``## ``
sections and keeps the others'."""
from __future__ import annotations

import os
import re
from typing import List, Tuple


def split(text: str) -> Tuple[str, List[Tuple[str, str]]]:
    """(what precedes the first ``## `` heading, [(heading line, the section's text)])."""
    parts = re.split(r"(?m)^(?=## )", text)
    return parts[0], [(part.split("\n", 1)[0], part) for part in parts[1:]]


def merge(old: str, new: str) -> str:
    """``old`` with the sections ``new`` has replaced in place and its other sections added at
    the end; ``new``'s title part (before its first section) replaces ``old``'s if it has one."""
    old_head, old_sections = split(old)
    new_head, new_sections = split(new)
    replaced = dict(new_sections)
    pieces = [replaced.pop(heading, body) for heading, body in old_sections]
    pieces += [body for heading, body in new_sections if heading in replaced]
    head = new_head if new_head.strip() else old_head
    out = head.rstrip("\n") + "\n\n" if head.strip() else ""
    return out + "\n".join(piece.rstrip("\n") + "\n" for piece in pieces)


def write(path: str, new: str) -> None:
    """Writes ``new``'s sections into ``path``, keeping the other benchmarks' sections."""
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    with open(path, "w", encoding="utf-8") as f:
        f.write(merge(old, new).rstrip("\n") + "\n")
