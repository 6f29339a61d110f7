"""The model server's benchmark: ``python bench/serving.py --output-root OUT``.

Against a real ``python -m pipeline serve`` process on loopback (OUT must hold a pushed model,
e.g. from ``python -m pipeline run --output-root OUT``), measures single-row and batch
latency (p50, p99) and requests/s at several client concurrencies, next to the same calls
made on the SavedModel in this process (the floor: no HTTP, no JSON, no log), and the seconds
from a push (the Pusher's own ``push``) to the new version being served. Every response is
checked against the in-process prediction. Appends its section to bench/RESULTS.md (replacing
an earlier one of its own).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
from bench import sections  # noqa: E402  (after the checkout is importable)
import components  # noqa: E402,F401  (sets the Keras switch before TensorFlow loads)

HEADING = "## Model server (bench/serving.py)"


def rows(count: int) -> List[Dict[str, Any]]:
    """The bundled span 2's complete rows, as JSON rows of raw features, cycled to ``count``."""
    import csv

    with open(os.path.join(ROOT, "data", "penguins", "span-2", "penguins.csv")) as f:
        complete = [r for r in csv.DictReader(f) if "NA" not in r.values()]
    numeric = {"bill_length_mm": float, "bill_depth_mm": float, "flipper_length_mm": int,
               "body_mass_g": int, "year": int}
    parsed = [{k: numeric.get(k, str)(v) for k, v in r.items() if k != "species"}
              for r in complete]
    return [parsed[i % len(parsed)] for i in range(count)]


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(call: Callable[[], None], concurrency: int, requests: int) -> Dict[str, float]:
    """Runs ``call`` ``requests`` times from ``concurrency`` threads: p50/p99 ms and calls/s."""
    def timed(_):
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    call()  # warm-up
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(timed, range(requests)))
    wall = time.perf_counter() - started
    return {"p50": 1000 * percentile(latencies, 0.5), "p99": 1000 * percentile(latencies, 0.99),
            "rps": requests / wall}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(client, url: str, version: int, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            answer = client.get(url)
            if answer.status_code == 200 and \
                    answer.json()["model_version_status"][0]["version"] == str(version):
                return time.monotonic() - started
        except Exception:  # not listening yet
            pass
        time.sleep(0.01)
    raise RuntimeError(f"version {version} not served after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-root", required=True)
    parser.add_argument("--requests", type=int, default=400, help="per measurement")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--pushes", type=int, default=3)
    parser.add_argument("--results", default=os.path.join(BENCH, "RESULTS.md"))
    args = parser.parse_args()

    import httpx
    import numpy as np
    import tensorflow as tf

    from components.lib.serving_store import push
    from components.lib.serving_store import serving_version
    from pipeline import config as config_lib

    cfg = config_lib.load(None, {"output_root": os.path.abspath(args.output_root)})
    version = serving_version(cfg.serving_dir)
    if version is None:
        sys.exit(f"{cfg.serving_dir}: no pushed model; run `python -m pipeline run "
                 f"--output-root {args.output_root}` first")
    model_dir = os.path.join(cfg.serving_dir, str(version))
    raw = tf.saved_model.load(model_dir).signatures["serving_raw"]
    _, specs = raw.structured_input_signature

    def local(batch: List[Dict[str, Any]]) -> Dict[str, np.ndarray]:
        columns = {k: tf.constant([r[k] for r in batch], dtype=specs[k].dtype) for k in specs}
        return {k: v.numpy() for k, v in raw(**columns).items()}

    port = free_port()
    log = open(os.path.join(cfg.output_root, "bench-serve.log"), "w")
    server = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", "--output-root",
                               cfg.output_root, "--port", str(port)], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1/models/{cfg.pipeline_name}"
    lines = []
    try:
        client = httpx.Client(timeout=120)
        startup = wait_for(client, base, version)
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        results = []
        for label, size in (("1 row", 1), (f"{args.batch} rows", args.batch)):
            batch = rows(size)
            want = local(batch)

            def remote(batch=batch, want=want) -> None:
                answer = client.post(f"{base}:predict", json={"instances": batch})
                assert answer.status_code == 200, answer.text
                got = answer.json()["predictions"]
                assert [p["classes"] for p in got] == [c.decode() for c in want["classes"]]
                np.testing.assert_allclose([p["probabilities"] for p in got],
                                           want["probabilities"], rtol=1e-5, atol=1e-7)

            for c in concurrencies:
                floor = measure(lambda batch=batch: local(batch), c, args.requests)
                http = measure(remote, c, args.requests)
                results.append((label, c, http, floor))
                print(label, c, http, floor, flush=True)
        push_seconds = []
        for _ in range(args.pushes):
            new = push(model_dir, cfg.serving_dir)
            push_seconds.append(wait_for(client, base, new))
            print("push", new, push_seconds[-1], flush=True)
        client.close()
        lines = render(args, results, push_seconds, startup, cfg)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    sections.write(args.results, "\n".join(lines))


def render(args, results, push_seconds, startup, cfg) -> List[str]:
    cpus = os.cpu_count()
    out = [HEADING, "",
           f"`python bench/serving.py --output-root OUT --requests {args.requests} --batch "
           f"{args.batch} --concurrency {args.concurrency} --pushes {args.pushes}` on "
           f"{cpus} cores, Python {platform.python_version()}: a `python -m pipeline serve` "
           "process on loopback (default config: prediction log on, poll every "
           f"{cfg.serving.poll_seconds:g} s) and the clients (httpx, one thread each) share "
           "the machine. Requests are JSON rows of raw features (`serving_raw`); every "
           "response was checked against the in-process prediction. In-process: the same "
           "signature called on the loaded SavedModel from the same number of threads "
           "(the floor: no HTTP, JSON or log).", "",
           "| request | clients | HTTP p50 ms | HTTP p99 ms | HTTP req/s | in-process p50 ms "
           "| in-process p99 ms | in-process calls/s | HTTP / in-process (req/s) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, c, http, floor in results:
        out.append(f"| {label} | {c} | {http['p50']:.1f} | {http['p99']:.1f} | "
                   f"{http['rps']:.0f} | {floor['p50']:.2f} | {floor['p99']:.2f} | "
                   f"{floor['rps']:.0f} | {http['rps'] / floor['rps']:.2f} |")
    out += ["", f"From a push to the new version served (status answering it), {len(push_seconds)} "
            f"pushes: median {statistics.median(push_seconds):.2f} s, max "
            f"{max(push_seconds):.2f} s (a version is loaded once its folder is unchanged for one "
            f"poll). From starting the process to the first version served: {startup:.1f} s.", ""]
    return out


if __name__ == "__main__":
    main()
