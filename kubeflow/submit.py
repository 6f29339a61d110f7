"""Submits a compiled spec to a Kubeflow Pipelines v2 API through the real ``kfp.Client``.

Credentials come from the environment only, and are never printed or written:
``KFP_BEARER_TOKEN`` (an ``Authorization: Bearer`` token) or ``KFP_COOKIE`` (the session
cookie of Kubeflow's auth proxy, e.g. ``authservice_session=...``).
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Optional

TOKEN_ENV = "KFP_BEARER_TOKEN"
COOKIE_ENV = "KFP_COOKIE"


class SubmitError(RuntimeError):
    """Submission failed; the one-line message names the host and the reason."""


@dataclass
class Submitted:
    kind: str          # "run" or "recurring run"
    id: str
    url: str


def _reason(error: Exception, host: str) -> str:
    status = getattr(error, "status", None) or getattr(error, "code", None)
    if status in (401, 403):
        return (f"{host} refused the credentials (HTTP {status}); set {TOKEN_ENV} or {COOKIE_ENV} "
                "to a valid token or session cookie")
    if status:
        return f"{host} answered HTTP {status}: {getattr(error, 'reason', '') or 'error'}"
    text = str(error)
    if "Connection refused" in text or "Max retries exceeded" in text or "Failed to establish" in text:
        return f"cannot reach Kubeflow Pipelines at {host} (connection refused or host unknown)"
    return f"{host}: {type(error).__name__}: {text.splitlines()[0] if text else ''}"


def _auth_headers() -> Dict[str, str]:
    headers = {}
    if os.environ.get(TOKEN_ENV):
        headers["Authorization"] = f"Bearer {os.environ[TOKEN_ENV]}"
    if os.environ.get(COOKIE_ENV):
        headers["Cookie"] = os.environ[COOKIE_ENV]
    return headers


def check_reachable(host: str, timeout: float = 10.0) -> None:
    """One quick request to the health endpoint, so that an unreachable host or refused
    credentials fail at once (``kfp.Client`` retries its health check for half a minute)."""
    request = urllib.request.Request(f"{host}/apis/v2beta1/healthz", headers=_auth_headers())
    try:
        urllib.request.urlopen(request, timeout=timeout).close()
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            raise SubmitError(_reason(error, host)) from None
        # Other statuses (e.g. 404 from an older API server) are left to kfp.Client.
    except (urllib.error.URLError, OSError) as error:
        raise SubmitError(f"cannot reach Kubeflow Pipelines at {host} "
                          f"({getattr(error, 'reason', error)})") from None


def client(host: str, namespace: str):
    """A ``kfp.Client`` for ``host`` with credentials from the environment."""
    import kfp

    return kfp.Client(host=host, namespace=namespace,
                      existing_token=os.environ.get(TOKEN_ENV) or None,
                      cookies=os.environ.get(COOKIE_ENV) or None)


def submit(spec_path: str, *, host: str, namespace: str, experiment: str, run_name: str,
           parameters: Dict[str, Any], pipeline_root: str, cron: Optional[str] = None,
           max_concurrency: int = 1) -> Submitted:
    """Creates a run (or, with ``cron``, a recurring run) of the compiled spec.

    ``pipeline_root`` goes with the run's runtime config: no KFP backend reads the spec's
    ``defaultPipelineRoot`` (its root driver takes the run's root, else the ``kfp-launcher``
    ConfigMap's, else ``minio://mlpipeline/v2/artifacts``), and ``kfp.Client`` does not copy
    it from the spec."""
    host = host.rstrip("/")
    check_reachable(host)
    try:
        kfp_client = client(host, namespace)
        if cron is None:
            result = kfp_client.create_run_from_pipeline_package(
                spec_path, arguments=parameters, run_name=run_name, experiment_name=experiment,
                namespace=namespace, pipeline_root=pipeline_root)
            return Submitted("run", result.run_id, f"{host}/#/runs/details/{result.run_id}")
        experiment_id = kfp_client.create_experiment(experiment, namespace=namespace).experiment_id
        recurring = kfp_client.create_recurring_run(
            experiment_id=experiment_id, job_name=run_name, cron_expression=cron,
            max_concurrency=max_concurrency, no_catchup=True, params=parameters,
            pipeline_package_path=spec_path, pipeline_root=pipeline_root)
        return Submitted("recurring run", recurring.recurring_run_id,
                         f"{host}/#/recurringrun/details/{recurring.recurring_run_id}")
    except SubmitError:
        raise
    except Exception as error:  # kfp raises ApiException, urllib3 and ValueError alike
        raise SubmitError(_reason(error, host)) from None
