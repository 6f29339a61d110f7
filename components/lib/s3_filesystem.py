"""TFX ``fileio`` for ``s3://`` (and ``minio://``) data: pyarrow's S3 file system.

TensorFlow 2.16 has no ``s3://`` file system (it left for tensorflow-io), so TFX's
``fileio``, which goes through ``tf.io.gfile``, cannot read a data root in MinIO or S3.
Importing this module registers ``S3Filesystem`` ahead of TensorFlow's for those schemes;
every data-reading component and the DataFingerprint task import it (through
``components.lib.csv_read`` and ``components.lib.spans``).

Where and how, read from the environment at the first call (as a Kubeflow pod gets it from
the compiled spec: ``kubeflow.data_store``): ``AWS_ENDPOINT_URL`` (unset: AWS itself),
``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (required), ``AWS_REGION``.

Object stores have no folders: a "folder" is a key prefix, ``makedirs`` does nothing (so no
zero-byte ``dir/`` keys appear) and ``glob`` lists every key under the pattern's fixed part.
"""
from __future__ import annotations

import fnmatch
import io
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from tfx.dsl.io import filesystem, filesystem_registry

SCHEMES = ("s3://", "minio://")
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
REGION_ENV = "AWS_REGION"
DEFAULT_REGION = "us-east-1"
# Ahead of TensorFlow's gfile plugin (priority 10), which claims s3:// but cannot open it.
PRIORITY = 5


class ObjectStorageError(OSError):
    """Object storage cannot be reached or read; one line naming the URI and what to set."""


@dataclass(frozen=True)
class Stat:
    """What TFX reads from ``fileio.stat`` (TensorFlow's FileStatistics fields)."""
    length: int
    mtime_nsec: int
    is_directory: bool


_lock = threading.Lock()
_clients: Dict[Tuple[str, str, str, str], Any] = {}


def _split(uri: str) -> Tuple[str, str]:
    """(scheme, "bucket/key") of an object storage URI."""
    uri = uri.decode() if isinstance(uri, bytes) else str(uri)
    for scheme in SCHEMES:
        if uri.startswith(scheme):
            path = uri[len(scheme):].rstrip("/")
            if not path or path.startswith("/"):
                raise ObjectStorageError(f"{uri}: no bucket in the URI (expected {scheme}bucket/key)")
            return scheme, path
    raise ObjectStorageError(f"{uri}: not an object storage URI ({', '.join(SCHEMES)})")


def client(uri: str, environ: Optional[Dict[str, str]] = None):
    """The pyarrow S3 file system the environment names (one per endpoint and keys)."""
    environ = os.environ if environ is None else environ
    endpoint = environ.get(ENDPOINT_ENV, "")
    access, secret = environ.get(ACCESS_KEY_ENV, ""), environ.get(SECRET_KEY_ENV, "")
    missing = [name for name, value in ((ACCESS_KEY_ENV, access), (SECRET_KEY_ENV, secret))
               if not value]
    if missing:
        raise ObjectStorageError(
            f"{uri}: no credentials for object storage: {' and '.join(missing)} not set (on "
            "Kubeflow the data tasks get them from the Secret kubeflow.data_store.secret)")
    region = environ.get(REGION_ENV) or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    key = (endpoint, access, secret, region)
    with _lock:
        if key not in _clients:
            from pyarrow import fs as pafs

            options: Dict[str, Any] = {}
            if endpoint:
                options = {"endpoint_override": endpoint,
                           "scheme": "http" if endpoint.startswith("http://") else "https"}
            _clients[key] = pafs.S3FileSystem(
                access_key=access, secret_key=secret, region=region, connect_timeout=10,
                request_timeout=60,
                retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=3), **options)
        return _clients[key]


def _call(uri: str, action: Callable[[Any, str], Any]) -> Any:
    """``action(file system, "bucket/key")``; pyarrow's errors as one line naming ``uri``."""
    _, path = _split(uri)
    fs = client(uri)
    try:
        return action(fs, path)
    except FileNotFoundError as e:
        raise filesystem.NotFoundError(f"{uri}: not found") from e
    except OSError as e:
        if isinstance(e, ObjectStorageError):
            raise
        endpoint = os.environ.get(ENDPOINT_ENV) or "AWS S3"
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ObjectStorageError(f"{uri}: {message} (object store: {endpoint})") from None


def _info(uri: str):
    return _call(uri, lambda fs, path: fs.get_file_info(path))


def _file_type():
    from pyarrow import fs as pafs

    return pafs.FileType


class _Reader(io.RawIOBase):
    """A pyarrow input file as a raw stream, so ``io.BufferedReader`` gives it ``readline``."""

    def __init__(self, native: Any):
        super().__init__()
        self._native = native

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._native.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._native.seek(offset, whence)

    def tell(self) -> int:
        return self._native.tell()

    def close(self) -> None:
        self._native.close()
        super().close()


def _glob_parts(pattern: str) -> Tuple[str, List[str], str]:
    """(scheme, pattern segments, the fixed "bucket/prefix" before the first wildcard)."""
    scheme, path = _split(pattern)
    parts = path.split("/")
    fixed: List[str] = []
    for part in parts:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    if not fixed:
        raise ObjectStorageError(f"{pattern}: a wildcard in the bucket name is not supported")
    return scheme, parts, "/".join(fixed)


class S3Filesystem(filesystem.Filesystem):
    """``fileio`` on object storage through pyarrow's S3 file system."""

    SUPPORTED_SCHEMES = list(SCHEMES)

    @staticmethod
    def open(name: str, mode: str = "r") -> Any:
        if "a" in mode or "+" in mode:
            raise ObjectStorageError(f"{name}: object storage cannot open files in mode {mode!r}")
        if "w" in mode:
            stream = _call(name, lambda fs, path: fs.open_output_stream(path))
            return stream if "b" in mode else io.TextIOWrapper(stream, encoding="utf-8")
        reader = io.BufferedReader(_Reader(_call(name, lambda fs, path: fs.open_input_file(path))))
        return reader if "b" in mode else io.TextIOWrapper(reader, encoding="utf-8")

    @staticmethod
    def copy(src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and S3Filesystem.exists(dst):
            raise OSError(f"{dst}: already exists and overwrite is false")
        _, target = _split(dst)
        _call(src, lambda fs, path: fs.copy_file(path, target))

    @staticmethod
    def exists(path: str) -> bool:
        return _info(path).type != _file_type().NotFound

    @staticmethod
    def glob(pattern: str) -> List[str]:
        scheme, parts, fixed = _glob_parts(pattern)
        if len(fixed.split("/")) == len(parts):
            return [pattern] if S3Filesystem.exists(pattern) else []
        from pyarrow import fs as pafs

        selector = pafs.FileSelector(fixed, recursive=True, allow_not_found=True)
        infos = _call(pattern, lambda fs, _: fs.get_file_info(selector))
        found = []
        for info in infos:
            segments = info.path.split("/")
            if len(segments) == len(parts) and all(
                    fnmatch.fnmatchcase(s, p) for s, p in zip(segments, parts)):
                found.append(scheme + info.path)
        return sorted(found)

    @staticmethod
    def isdir(path: str) -> bool:
        return _info(path).type == _file_type().Directory

    @staticmethod
    def listdir(path: str) -> List[str]:
        from pyarrow import fs as pafs

        if not S3Filesystem.isdir(path):
            raise filesystem.NotFoundError(f"{path}: not found")
        infos = _call(path, lambda fs, p: fs.get_file_info(pafs.FileSelector(p)))
        return sorted(info.base_name for info in infos)

    @staticmethod
    def makedirs(path: str) -> None:
        _split(path)  # no folders to make: a key's prefix is its folder

    @staticmethod
    def mkdir(path: str) -> None:
        _split(path)

    @staticmethod
    def remove(path: str) -> None:
        _call(path, lambda fs, p: fs.delete_file(p))

    @staticmethod
    def rename(src: str, dst: str, overwrite: bool = False) -> None:
        S3Filesystem.copy(src, dst, overwrite)
        S3Filesystem.remove(src)

    @staticmethod
    def rmtree(path: str) -> None:
        _call(path, lambda fs, p: fs.delete_dir(p))

    @staticmethod
    def stat(path: str) -> Stat:
        info = _info(path)
        if info.type == _file_type().NotFound:
            raise filesystem.NotFoundError(f"{path}: not found")
        return Stat(length=info.size or 0, mtime_nsec=info.mtime_ns or 0,
                    is_directory=info.type == _file_type().Directory)

    @staticmethod
    def walk(top: str, topdown: bool = True, onerror: Optional[Callable[..., None]] = None
             ) -> Iterable[Tuple[str, List[str], List[str]]]:
        from pyarrow import fs as pafs

        scheme, root = _split(top)
        infos = _call(top, lambda fs, p: fs.get_file_info(
            pafs.FileSelector(p, recursive=True, allow_not_found=True)))
        folders: Dict[str, Tuple[List[str], List[str]]] = {root: ([], [])}
        for info in sorted(infos, key=lambda i: i.path):
            parent, _, name = info.path.rpartition("/")
            is_dir = info.type == _file_type().Directory
            if is_dir:
                folders.setdefault(info.path, ([], []))
            folders.setdefault(parent, ([], []))[0 if is_dir else 1].append(name)
        order = sorted(folders, reverse=not topdown)
        for folder in order:
            subdirs, files = folders[folder]
            yield scheme + folder, subdirs, files


filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(S3Filesystem, priority=PRIORITY)
