"""Finding data spans: folders named by the span pattern, e.g. ``span-3/*.csv``.

The one span resolver: the CLI, the DataFingerprint task, CsvExampleGen's window and
DriftCheck all list spans and windows here, and read the window settings and the spans an
Examples artifact holds (its ``spans`` and ``span_fingerprints`` properties). A local data root is listed with ``glob`` (no TensorFlow
import); a remote one (``s3://``, ``minio://``, ``gs://``) through TFX's ``fileio``, with
``components.lib.s3_filesystem`` registered for object storage.
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from typing import Any, Callable, Dict, List, Optional

SPANS = "spans"  # Examples custom property: the spans read, "1,2,3"
SPAN_FINGERPRINTS = "span_fingerprints"  # JSON {span: SHA-256 of its files' bytes}


class SpanError(ValueError):
    """No usable span; the message names the data folder and the pattern."""


class SpanWindowError(SpanError):
    """The window names spans that have no files; the message names the folder."""


def check_pattern(pattern: str) -> None:
    """A span pattern must stay below the data root: no absolute path, no '..' part."""
    if os.path.isabs(pattern) or ".." in pattern.split("/"):
        raise SpanError(f"span pattern {pattern!r} must stay inside the data root "
                        "(no absolute path, no '..')")


def is_remote(root: str) -> bool:
    """True for a URI (``s3://bucket/key``), False for a local path."""
    return "://" in root


def _remote(root: str, call: Callable[[Any], Any]) -> Any:
    """``call(fileio)`` for a remote root; its errors become one-line ``SpanError``s."""
    from tfx.dsl.io import fileio

    from components.lib import s3_filesystem  # noqa: F401  (registers s3:// and minio://)

    try:
        return call(fileio)
    except s3_filesystem.ObjectStorageError as e:
        raise SpanError(str(e)) from None
    except Exception as e:  # TensorFlow's gfile errors (gs://, an unknown scheme)
        raise SpanError(f"{root}: cannot list the data root "
                        f"({(str(e).splitlines() or [type(e).__name__])[0]})") from None


def _files(root: str, pattern: str) -> List[str]:
    """Files (not folders) matching the glob ``pattern`` under ``root``, relative to it."""
    if not is_remote(root):
        return [os.path.relpath(p, root) for p in glob.glob(os.path.join(root, pattern))
                if os.path.isfile(p)]
    base = root.rstrip("/") + "/"
    found = _remote(root, lambda fileio: [p for p in fileio.glob(base + pattern)
                                          if not fileio.isdir(p)])
    return [p[len(base):] for p in found if p.startswith(base)]


def _join(root: str, relative: str) -> str:
    return root.rstrip("/") + "/" + relative if is_remote(root) else os.path.join(root, relative)


def available_spans(root: str, pattern: str) -> Dict[int, List[str]]:
    """{span number: sorted files} for every span folder under ``root`` (a path or URI)."""
    check_pattern(pattern)
    before, _, after = pattern.partition("{SPAN}")
    regex = re.compile(re.escape(before) + r"(\d+)" + re.escape(after).replace(r"\*", "[^/]*"))
    spans: Dict[int, List[str]] = {}
    for relative in _files(root, before + "*" + after):
        match = regex.fullmatch(relative)
        if match:
            spans.setdefault(int(match.group(1)), []).append(_join(root, relative))
    return {span: sorted(files) for span, files in sorted(spans.items())}


def window(root: str, pattern: str, end: int, size: int) -> Dict[int, List[str]]:
    """{span: files} of the last ``size`` spans with files up to ``end`` (a span without
    files is skipped, not counted)."""
    available = available_spans(root, pattern)
    return {s: available[s] for s in [s for s in available if s <= end][-size:]}


def window_spans(root: str, pattern: str, end: int, size: int) -> List[int]:
    """The spans of ``window``; SpanWindowError if ``end`` itself has no files."""
    spans = list(window(root, pattern, end, size))
    if end not in spans:
        raise SpanWindowError(f"{root}: span {end} has no files matching {pattern!r}")
    return spans


def span_files(root: str, pattern: str, span: int) -> List[str]:
    """The files of one span (none if it has none)."""
    return available_spans(root, pattern).get(span, [])


def content_fingerprint(files: List[str]) -> str:
    """SHA-256 of the files' names and bytes: changes exactly when the data does."""
    from tfx.dsl.io import fileio  # local, s3:// and gs:// files alike

    digest = hashlib.sha256()
    for path in files:
        digest.update(os.path.basename(path).encode())
        with fileio.open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def make_custom_config(span_pattern: str, window_size: int) -> Any:
    """The ExampleGen ``custom_config`` carrying the window: a Struct of the unresolved
    ``span_pattern`` and ``window``."""
    from google.protobuf import struct_pb2
    from tfx.proto import example_gen_pb2

    struct = struct_pb2.Struct()
    struct.update({"span_pattern": span_pattern, "window": window_size})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def read_custom_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """{'span_pattern': ..., 'window': K} of an ExampleGen execution; window 1 without one."""
    from google.protobuf import struct_pb2
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_component_specs
    from tfx.utils import proto_utils

    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return {"window": 1}
    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(raw, config)
    struct = struct_pb2.Struct()
    if not config.custom_config.Unpack(struct):
        return {"window": 1}
    values = dict(struct)
    values["window"] = int(values.get("window", 1))
    return values


def resolve_span(root: str, pattern: str, span: Optional[int] = None) -> int:
    """The requested span if it has files, else the latest; a clear error if none."""
    exists = (_remote(root, lambda fileio: fileio.isdir(root)) if is_remote(root)
              else os.path.isdir(root))
    if not exists:
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
