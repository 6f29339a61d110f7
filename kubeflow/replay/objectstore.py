"""The replay's object store: a real MinIO server, reached through the S3 API as KFP's launcher is.

Open-source Kubeflow's default artifact store is MinIO. The launcher (``objectstore`` in
kubeflow/pipelines ``backend/src/v2``) opens the pipeline root's bucket with the S3 API and
uses three calls: list by prefix (no delimiter, so ``a/b`` also lists ``a/bc``), get, put.
``ObjectStore`` does the same with boto3; ``download`` and ``upload`` are ``DownloadBlob`` and
``UploadBlob``. The ``gs://`` scheme is mapped onto the same server, as a stand-in for GCS
(whose own quirk, zero-byte ``dir/`` keys, MinIO stores the same way).

``MinioServer`` runs MinIO's own server binary (AGPL; a test tool installed by ``make minio``
from the Go module proxy, never part of the pipeline image) on 127.0.0.1.
"""
from __future__ import annotations

import errno
import os
import posixpath
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

# The variables an S3 client reads (AWS SDKs and boto3 alike) are the ones the data tasks
# read; the launcher's MinIO provider gets the same from the kfp-launcher ConfigMap.
from components.lib.s3_filesystem import ACCESS_KEY_ENV, DEFAULT_REGION as REGION
from components.lib.s3_filesystem import ENDPOINT_ENV, REGION_ENV, SECRET_KEY_ENV
from kubeflow.entrypoint import MIRRORS

# Where `make minio` installs the server (outside the checkout, so clones share it).
TOOLS_DIR = os.path.expanduser(os.environ.get("TFX_TOOLS_DIR") or "~/.cache/tfx-on-kubeflow")
BINARY_ENV = "MINIO_BINARY"


class ObjectStoreError(RuntimeError):
    """The object store cannot be reached or started; the message says what to do."""


def split_uri(uri: str) -> Tuple[str, str, str]:
    """(scheme, bucket, key) of a remote URI; a ValueError for anything else."""
    for scheme, _ in MIRRORS:
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme):].partition("/")
            return scheme, bucket, key
    raise ValueError(f"{uri!r} is not object storage; open-source KFP's launcher mirrors only "
                     f"{', '.join(s for s, _ in MIRRORS)} URIs")


@dataclass(frozen=True)
class Credentials:
    """Where an S3 API is and the keys to it."""
    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> Dict[str, str]:
        """The environment an S3 client (or a task reading data from the store) needs."""
        return {ENDPOINT_ENV: self.endpoint, ACCESS_KEY_ENV: self.access_key,
                SECRET_KEY_ENV: self.secret_key, REGION_ENV: REGION}

    @classmethod
    def from_env(cls, environ: Optional[Dict[str, str]] = None) -> Optional["Credentials"]:
        """The store named by the environment, or None when ``AWS_ENDPOINT_URL`` is unset."""
        environ = os.environ if environ is None else environ
        if not environ.get(ENDPOINT_ENV):
            return None
        missing = [v for v in (ACCESS_KEY_ENV, SECRET_KEY_ENV) if not environ.get(v)]
        if missing:
            raise ObjectStoreError(f"{ENDPOINT_ENV} is set but {missing[0]} is not")
        return cls(environ[ENDPOINT_ENV], environ[ACCESS_KEY_ENV], environ[SECRET_KEY_ENV])


def minio_binary() -> str:
    """The MinIO server binary: ``$MINIO_BINARY``, else ``make minio``'s, else ``minio`` on PATH."""
    for candidate in (os.environ.get(BINARY_ENV), os.path.join(TOOLS_DIR, "bin", "minio"),
                      shutil.which("minio")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ObjectStoreError("no MinIO server found: run `make minio` (builds it with `go install` "
                           f"into {TOOLS_DIR}/bin) or set {BINARY_ENV}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MinioServer:
    """A MinIO server on 127.0.0.1 with its data under ``data_dir``; a context manager."""

    def __init__(self, data_dir: str, *, access_key: str = "replay-access",
                 secret_key: str = "replay-secret-key", binary: Optional[str] = None):
        self.data_dir = data_dir
        self.binary = binary or minio_binary()
        self.port = _free_port()
        self.credentials = Credentials(f"http://127.0.0.1:{self.port}", access_key, secret_key)
        self.log_path = data_dir.rstrip("/") + ".log"
        self._process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 60.0) -> "MinioServer":
        os.makedirs(self.data_dir, exist_ok=True)
        env = {**os.environ, "MINIO_ROOT_USER": self.credentials.access_key,
               "MINIO_ROOT_PASSWORD": self.credentials.secret_key, "MINIO_BROWSER": "off",
               "MINIO_UPDATE": "off"}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "server", "--quiet", "--address", f"127.0.0.1:{self.port}",
                 "--console-address", f"127.0.0.1:{_free_port()}", self.data_dir],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ObjectStoreError(f"MinIO exited at start (status {self._process.returncode}); "
                                       f"see {self.log_path}")
            try:
                urllib.request.urlopen(f"{self.credentials.endpoint}/minio/health/ready",
                                       timeout=2).close()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise ObjectStoreError(f"MinIO did not answer within {timeout:.0f}s; see {self.log_path}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> "MinioServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ObjectStore:
    """Buckets on an S3 API, used the way KFP's launcher uses them."""

    def __init__(self, credentials: Credentials):
        import boto3
        from botocore.config import Config

        self.credentials = credentials
        self._s3 = boto3.session.Session().client(
            "s3", endpoint_url=credentials.endpoint, aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key, region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3},
                          signature_version="s3v4"))
        self._buckets: set = set()

    def _call(self, what: str, function, **kwargs):
        from botocore.exceptions import ClientError, EndpointConnectionError

        try:
            return function(**kwargs)
        except EndpointConnectionError:
            raise ObjectStoreError(f"cannot reach the object store at {self.credentials.endpoint} "
                                   f"({ENDPOINT_ENV})") from None
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise FileNotFoundError(what) from None
            raise ObjectStoreError(f"{what}: {code or e}") from None

    def ensure_bucket(self, bucket: str) -> None:
        """Creates ``bucket`` unless it exists (a KFP install creates its ``mlpipeline`` bucket)."""
        if bucket in self._buckets:
            return
        try:
            self._call(f"bucket {bucket}", self._s3.head_bucket, Bucket=bucket)
        except FileNotFoundError:
            self._call(f"create bucket {bucket}", self._s3.create_bucket, Bucket=bucket)
        self._buckets.add(bucket)

    def put(self, uri: str, data: bytes) -> None:
        _, bucket, key = split_uri(uri)
        self.ensure_bucket(bucket)
        self._call(uri, self._s3.put_object, Bucket=bucket, Key=key, Body=data)

    def get(self, uri: str) -> bytes:
        _, bucket, key = split_uri(uri)
        return self._call(uri, self._s3.get_object, Bucket=bucket, Key=key)["Body"].read()

    def list(self, prefix_uri: str) -> List[str]:
        """Every key under a prefix, in byte order, with no delimiter (as the launcher lists)."""
        _, bucket, prefix = split_uri(prefix_uri)
        keys: List[str] = []
        pages = self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        try:
            for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except Exception as e:  # a missing bucket lists as nothing, like an empty prefix
            if "NoSuchBucket" in str(e):
                return []
            raise ObjectStoreError(f"cannot list {prefix_uri} at {self.credentials.endpoint}: "
                                   f"{str(e).splitlines()[0]}") from None
        return keys

    def download(self, uri: str, local_dir: str, *, strict_prefix: bool = False) -> None:
        """``objectstore.DownloadBlob``: every key under the prefix to ``local_dir`` joined
        with its relative path. Go's ``filepath.Rel`` drops a trailing slash, so a ``dir/``
        marker becomes a zero-byte *file* named ``dir``. Before 2.17 a prefix also pulled
        sibling keys (``model`` fetched ``model_run/...`` as ``../model_run``);
        ``strict_prefix`` skips them, as 2.17's ``isBlobKeyUnderPrefix`` does."""
        scheme, bucket, prefix = split_uri(uri)
        for key in self.list(uri):
            under = key == prefix.rstrip("/") or key.startswith(prefix.rstrip("/") + "/")
            if strict_prefix and not under:
                continue
            relative = posixpath.relpath(key, prefix) if key != prefix else "."
            target = os.path.normpath(os.path.join(local_dir, relative))
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            except FileExistsError:  # Go's MkdirAll says ENOTDIR when a file is in the way
                raise NotADirectoryError(errno.ENOTDIR, "not a directory",
                                         os.path.dirname(target)) from None
            with open(target, "wb") as f:
                f.write(self.get(f"{scheme}{bucket}/{key}"))

    def upload(self, local: str, uri: str) -> None:
        """``objectstore.UploadBlob``: a file, or every file under a folder (no folder keys)."""
        if os.path.isfile(local):
            with open(local, "rb") as f:
                self.put(uri, f.read())
            return
        for entry in sorted(os.listdir(local)):
            self.upload(os.path.join(local, entry), f"{uri}/{entry}")
