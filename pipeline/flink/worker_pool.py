"""Beam's SDK worker pool (``worker_pool_main``) for the local Flink cluster, with one change.

The pool keeps one process per worker id and ``StopWorker`` kills the process of that id. But
each TaskManager numbers its workers itself ("1-1", "2-1", ... per job), so two TaskManagers,
or two jobs at once (StatisticsGen beside Transform), start workers with the same id, and
stopping one killed the other's process mid-bundle (the job then fails with "CANCELLED:
client cancelled"). Here ``StopWorker`` kills nothing: a worker ends by itself when its
TaskManager closes the control channel, and the pool reaps it then.

Usage: python -m pipeline.flink.worker_pool --service_port=50000
"""
from __future__ import annotations

import argparse
import logging
import time
from typing import List, Optional

from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.worker import worker_pool_main


class WorkerPool(worker_pool_main.BeamFnExternalWorkerPoolServicer):
    """The stock pool; workers of the same id no longer stop each other."""

    def StopWorker(self, stop_worker_request: beam_fn_api_pb2.StopWorkerRequest,
                   unused_context) -> beam_fn_api_pb2.StopWorkerResponse:
        self._worker_processes = {worker: p for worker, p in self._worker_processes.items()
                                  if p.poll() is None}
        return beam_fn_api_pb2.StopWorkerResponse()


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--service_port", type=int, required=True)
    port = parser.parse_args(argv).service_port
    address, server = WorkerPool.start(use_process=True, port=port)
    logging.getLogger().setLevel(logging.INFO)
    logging.info("Started the SDK worker pool at %s", address)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop(0)


if __name__ == "__main__":
    main()
