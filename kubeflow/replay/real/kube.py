"""A loopback stand-in for the Kubernetes API: only the objects KFP's driver and launcher read.

Both programs build their client from the in-cluster settings (``KUBERNETES_SERVICE_HOST``/
``_PORT``, and the service account's ``token``, ``ca.crt`` and ``namespace`` files), so the
stand-in serves HTTPS with a certificate for 127.0.0.1 and writes those files into a folder
that each task mounts at ``/var/run/secrets/kubernetes.io/serviceaccount``. Every request is
recorded; anything but a GET of a known ConfigMap, Secret or running pod (``add_pod``) answers
404 as Kubernetes would.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_OBJECT = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>configmaps|secrets|pods)/"
                     r"(?P<name>[^/?]+)")
# Argo names a task pod's node "<...>.executor(<retry>)"; the 2.17 launcher reads the retry
# index from this annotation to place the executor-logs artifact.
NODE_NAME = "workflows.argoproj.io/node-name"


def _certificate(folder: str) -> Tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (its own CA), made with openssl."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is needed for the loopback Kubernetes API's certificate "
                           "(apt-get install openssl)")
    cert, key = os.path.join(folder, "ca.crt"), os.path.join(folder, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class KubeApi:
    """``with KubeApi(folder, namespace, configmaps, secrets) as kube:`` serves the objects
    on 127.0.0.1:``kube.port``; ``folder/serviceaccount`` holds what a pod's service account
    mount holds; ``kube.env()`` is what a pod's environment says about the API."""

    def __init__(self, folder: str, namespace: str, configmaps: Dict[str, Dict[str, str]],
                 secrets: Dict[str, Dict[str, str]]) -> None:
        self.namespace = namespace
        self.objects = {("configmaps", k): v for k, v in configmaps.items()}
        self.objects.update({("secrets", k): v for k, v in secrets.items()})
        self.requests: List[Tuple[str, str, int]] = []
        self.service_account = os.path.join(folder, "serviceaccount")
        os.makedirs(self.service_account, exist_ok=True)
        self._cert, self._key = _certificate(self.service_account)
        for name, text in (("namespace", namespace), ("token", "replay-token")):
            with open(os.path.join(self.service_account, name), "w", encoding="utf-8") as f:
                f.write(text)
        self.port = 0
        self._httpd = None

    def answer(self, method: str, path: str) -> Tuple[int, Dict[str, Any]]:
        """The status and body Kubernetes would give for this request."""
        found = _OBJECT.match(path)
        key = (found.group("kind"), found.group("name")) if found else None
        if method == "GET" and found and found.group("ns") == self.namespace and key in self.objects:
            data = self.objects[key]
            meta = {"name": key[1], "namespace": self.namespace}
            if key[0] == "secrets":
                return 200, {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                             "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
            if key[0] == "pods":
                return 200, {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "annotations": data}}
            return 200, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}
        return 404, {"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": "NotFound",
                     "code": 404, "message": f"{path} is not served by the replay's stand-in"}

    def add_pod(self, name: str, node: str) -> None:
        """A pod of the run, as Argo annotates it (first attempt)."""
        self.objects[("pods", name)] = {NODE_NAME: f"{node}(0)"}

    def __enter__(self) -> "KubeApi":
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                status, body = api.answer(self.command, self.path)
                api.requests.append((self.command, self.path, status))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

            def log_message(self, *args) -> None:  # recorded in api.requests instead
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert, self._key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def env(self) -> Dict[str, str]:
        return {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.port)}
