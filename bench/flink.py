"""Benchmark: the whole pipeline on the local Flink cluster (flink-local) against the DirectRunner.

For each size, the same generated span runs cold once on the DirectRunner (the default
profile) and once on flink-local, in turn, in one call; the cluster is started first (and
stopped at the end if this started it). Most of a Flink run's work happens outside the
``run`` command, in Flink's JVMs and Beam's SDK workers, so CPU seconds and peak memory add
the cluster's processes to the command's: CPU as their user + system seconds (with reaped
children) over the run, memory as the largest sampled RSS sum of the command's process tree
plus the cluster's. Writes its section of bench/RESULTS.md.

Usage: python bench/flink.py [--sizes 200000,1000000] [--fresh]
(measurements of other sizes are kept in <work>/flink-records.json)
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import sys
import threading
import time
from typing import Dict, List

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(BENCH))

from bench import run as bench_run  # noqa: E402
from bench import sections  # noqa: E402
from pipeline.flink import cluster  # noqa: E402


def cluster_processes() -> List:
    """The cluster's long-lived processes, from the pid files ``up`` and Flink's scripts wrote."""
    import psutil

    lay = cluster.current()
    pids = []
    for path in glob.glob(os.path.join(lay.run, "*.pid")) if lay else []:
        pids += [int(p) for p in open(path).read().split()]
    return [psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)]


def cluster_cpu(processes: List) -> float:
    """User + system seconds of ``processes``, their reaped children and their live ones."""
    total = 0.0
    for p in processes:
        t = p.cpu_times()
        total += t.user + t.system + t.children_user + t.children_system
        for child in p.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except Exception:  # ended between listing and reading
                pass
    return total


class Sampler(threading.Thread):
    """The largest RSS sum of the cluster's process trees while a run goes on."""

    def __init__(self, processes: List) -> None:
        super().__init__(daemon=True)
        self.processes, self.peak, self.stop = processes, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, sum(bench_run._tree_memory(p)[0] for p in self.processes))
            time.sleep(0.5)


def measure(runner: str, rows: int, data_root: str, work: str) -> Dict:
    out = os.path.join(work, f"flink-bench-{runner}-{rows}")
    shutil.rmtree(out, ignore_errors=True)
    command = [bench_run.PY, "-m", "pipeline", "run", "--data", data_root, "--output-root", out]
    if runner == "flink-local":
        command += ["--beam-profile", "flink-local"]
    processes = cluster_processes() if runner == "flink-local" else []
    sampler = Sampler(processes)
    cpu_before = cluster_cpu(processes)
    sampler.start()
    log = os.path.join(work, f"flink-bench-{runner}-{rows}.log")
    result = bench_run.timed(command, log)
    sampler.stop.set()
    sampler.join()
    text = open(log + ".time").read()
    command_cpu = sum(float(re.search(rf"{kind} time \(seconds\): (\S+)", text).group(1))
                      for kind in ("User", "System"))
    return {"runner": runner, "rows": rows, "status": result["status"], "wall": result["wall"],
            "cpu": command_cpu + cluster_cpu(processes) - cpu_before,
            "peak_mb": result["tree_rss_mb"] + sampler.peak / 2**20,
            "components": bench_run.component_seconds(os.path.join(out, "metadata.sqlite"))}


def render(records: List[Dict]) -> str:
    lines = ["## Flink (flink-local) against the DirectRunner (bench/flink.py)", "",
             f"Machine: {bench_run.machine()}. One cold run each, in turn, in one call of "
             "`python bench/flink.py`. CPU and peak memory include the Flink cluster's "
             "processes (JobManager, two TaskManagers, job server, SDK worker pool and its "
             "workers) for the Flink run; peak memory is sampled RSS, summed.", "",
             "| rows | runner | status | wall | CPU | peak memory | StatisticsGen | Transform "
             "| Evaluator | Flink / Direct wall |", "|---|---|---|---|---|---|---|---|---|---|"]
    walls = {(r["rows"], r["runner"]): r["wall"] for r in records}
    for r in records:
        c = r["components"]
        ratio = (f"{walls[(r['rows'], r['runner'])] / walls[(r['rows'], 'direct')]:.2f}"
                 if r["runner"] != "direct" and (r["rows"], "direct") in walls else "")
        lines.append(
            f"| {r['rows']:,} | {r['runner']} | {r['status']} | {r['wall']:.0f} s | "
            f"{r['cpu']:.0f} s | {r['peak_mb']:,.0f} MB | "
            + " | ".join(f"{c.get(n, {}).get('seconds', 0):.0f} s"
                         for n in ("StatisticsGen", "Transform", "Evaluator"))
            + f" | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--work", default=os.path.join(BENCH, "data"))
    parser.add_argument("--results", default=os.path.join(BENCH, "RESULTS.md"))
    parser.add_argument("--fresh", action="store_true", help="forget earlier measurements")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    saved = os.path.join(args.work, "flink-records.json")
    sizes = [int(s) for s in args.sizes.split(",")]
    records = [] if args.fresh or not os.path.exists(saved) else [
        r for r in json.load(open(saved)) if r["rows"] not in sizes]
    started_here = not all(cluster.status().values())
    cluster.up(os.path.join(args.work, "flink-cluster"))
    try:
        for rows in sizes:
            root = bench_run.prepare_data(args.work, rows)["na"]
            for runner in ("direct", "flink-local"):
                records.append(measure(runner, rows, root, args.work))
                print(records[-1], flush=True)
                with open(saved, "w") as f:
                    json.dump(records, f)
                sections.write(args.results, render(records))
    finally:
        if started_here:
            cluster.down()


if __name__ == "__main__":
    main()
