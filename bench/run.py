"""The benchmark suite: our pipeline against the stock TFX component set, side by side.

For each size it generates seeded data (``generate.py``; ``NA`` for ours, empty fields for
stock), then per repeat runs, alternating: our pipeline cold, our pipeline again with
nothing changed (warm: the up-to-date check answers), the same rerun with ``--recheck``
(through TFX's cache), stock CsvExampleGen alone, and the stock component set
(``stock_pipeline.py``). Every run is a whole process timed by ``/usr/bin/time -v``
(wall clock, peak RSS); per-component seconds come from ML Metadata. Each measurement is
appended to ``<work>/results.jsonl`` as soon as it exists, and ``bench/RESULTS.md`` is
rendered from the medians after every run, so a long suite leaves its figures behind
even when it is stopped.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Tuple

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
from bench import sections  # noqa: E402  (after the checkout is importable)

PY = sys.executable
# "ours warm" reruns right after the cold run: `run` finds nothing changed and runs nothing.
# "ours recheck" is the same rerun with --recheck: every component through TFX's cache.
VARIANTS = ["ours cold", "ours warm", "ours recheck", "stock CsvExampleGen", "stock set"]
SKIPPED = "Nothing changed since run"  # what `run` prints when the up-to-date check answers
OUR_COMPONENTS = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                  "DriftCheck", "Transform", "Trainer", "ServingBaseline", "Evaluator", "Pusher",
                  "Report"]
STOCK_COMPONENTS = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                    "Transform", "Trainer", "Evaluator", "Pusher"]
BUNDLED = 344  # the bundled data's three spans as one span: the "size" of the bundled run


def _tree_memory(process) -> Tuple[int, int]:
    """(RSS, PSS) bytes summed over ``process`` and all its descendants: the nodes our runner
    forks and Beam's worker processes. Forked processes share their parent's pages, which
    RSS counts once per process; PSS splits each shared page among its sharers, so the PSS
    sum is the memory the tree holds."""
    import psutil

    rss = pss = 0
    for p in [process] + process.children(recursive=True):
        try:
            rss += p.memory_info().rss
            pss += p.memory_full_info().pss
        except psutil.Error:  # ended between listing and reading
            pass
    return rss, pss


def timed(command: List[str], log: str) -> Dict[str, float]:
    """Runs ``command`` under /usr/bin/time -v; wall seconds, peak RSS (MB), exit status.

    ``rss_mb`` is /usr/bin/time's, the largest single process. A run that starts worker
    processes holds more than that at once, so ``tree_rss_mb`` and ``tree_pss_mb`` sample the
    whole process tree every 0.2 s and keep the largest sums."""
    import psutil

    stats = log + ".time"
    with open(log, "w") as out:
        child = subprocess.Popen(["/usr/bin/time", "-v", "-o", stats] + command, cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT)
        process, peak, peak_pss = psutil.Process(child.pid), 0, 0
        while child.poll() is None:
            rss, pss = _tree_memory(process)
            peak, peak_pss = max(peak, rss), max(peak_pss, pss)
            time.sleep(0.2)
        status = child.returncode
    text = open(stats).read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"wall": seconds, "rss_mb": rss_kb / 1024, "tree_rss_mb": peak / 2**20,
            "tree_pss_mb": peak_pss / 2**20, "status": status}


def component_seconds(metadata_path: str) -> Dict[str, Dict[str, object]]:
    """{component: {seconds, state}} of the latest run recorded in ``metadata_path``."""
    from pipeline.metadata import mlmd

    with mlmd.open_store(metadata_path) as store:
        run_id = mlmd.latest_run_id(store)
        return {node: {"seconds": run.seconds, "state": run.state}
                for node, run in mlmd.run_nodes(store, run_id).items()}


def prepare_data(work: str, rows: int) -> Dict[str, str]:
    """Data roots for ours (NA) and stock (empty fields); the same seeded rows in both."""
    from bench import generate

    roots = {"na": os.path.join(work, f"data-{rows}-na"),
             "blank": os.path.join(work, f"data-{rows}-blank")}
    if all(os.path.exists(os.path.join(r, "span-1", "penguins.csv")) for r in roots.values()):
        return roots
    if rows == BUNDLED:
        import pandas as pd
        frame = generate.bundled()
        frame["year"] = frame["year"].astype(int)
        for column in ("flipper_length_mm", "body_mass_g"):
            frame[column] = frame[column].astype("Int64")
    else:
        frame = generate.generate(rows, seed=0)
    generate.write_span(frame, roots["na"])
    generate.write_span(frame, roots["blank"], empty_missing=True)
    return roots


def measure(variant: str, rows: int, roots: Dict[str, str], work: str, repeat: int) -> Dict:
    tag = f"{rows}-{repeat}"
    if variant.startswith("ours"):
        out = os.path.join(work, f"ours-{tag}")
        if variant == "ours cold":
            shutil.rmtree(out, ignore_errors=True)
        command = [PY, "-m", "pipeline", "run", "--data", roots["na"], "--output-root", out]
        if variant == "ours recheck":
            command.append("--recheck")
    else:
        out = os.path.join(work, f"stock-{'eg' if 'Example' in variant else 'set'}-{tag}")
        shutil.rmtree(out, ignore_errors=True)
        command = [PY, os.path.join(BENCH, "stock_pipeline.py"), roots["blank"], out]
        if "Example" in variant:
            command.append("--only-examplegen")
    log = os.path.join(work, f"{variant.replace(' ', '_')}-{tag}.log")
    result = timed(command, log)
    skipped = SKIPPED in open(log).read()  # no new run in ML Metadata to read components from
    result.update(variant=variant, rows=rows, repeat=repeat, log=log, skipped=skipped,
                  components={} if skipped else component_seconds(
                      os.path.join(out, "metadata.sqlite")))
    return result


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                  if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    import tfx
    return (f"{os.cpu_count()} cores ({model}), {mem / 2**20:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"TFX {tfx.__version__}; DirectRunner in_memory, 1 worker (config.yaml profile local); "
            "from 500k rows (beam.parallel_from_rows) the Evaluator runs multi_processing, "
            "one worker per core")


def _median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def summarize(records: List[Dict]) -> Dict:
    """{rows: {variant: {wall, rss_mb, n, components: {name: median seconds}}}} of passed runs."""
    table: Dict = {}
    for record in records:
        if record["status"] != 0:
            continue
        table.setdefault(record["rows"], {}).setdefault(record["variant"], []).append(record)
    summary: Dict = {}
    for rows, variants in table.items():
        for variant, runs in variants.items():
            names = {n for r in runs for n in r["components"]}
            summary.setdefault(rows, {})[variant] = {
                "n": len(runs), "wall": _median([r["wall"] for r in runs]),
                "rss_mb": _median([r["rss_mb"] for r in runs]),
                # A run shorter than the first sample has no tree figure; its largest single
                # process is then the best lower bound.
                "tree_rss_mb": _median([max(r.get("tree_rss_mb", 0), r["rss_mb"]) for r in runs]),
                "tree_pss_mb": _median([r["tree_pss_mb"] for r in runs
                                        if r.get("tree_pss_mb")]),
                "components": {n: _median([r["components"][n]["seconds"] for r in runs
                                           if n in r["components"]]) for n in names},
                "states": {n: sorted({r["components"][n]["state"] for r in runs
                                      if n in r["components"]}) for n in names}}
    return summary


def _fmt(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:.1f}{unit}"


def _ratio(ours: Optional[float], stock: Optional[float]) -> str:
    return f"{ours / stock:.3f}×" if ours is not None and stock else "–"


def target_rows(summary: Dict) -> List[str]:
    """One table row per issue-6 target that this summary has the figures for."""
    def get(rows: int, variant: str, key: str):
        return ((summary.get(rows) or {}).get(variant) or {}).get(key)

    def eg(rows: int, variant: str):
        return ((get(rows, variant, "components") or {}).get("CsvExampleGen"))

    def row(target: str, measured: str, met: bool) -> str:
        return f"| {target} | {measured} | {'yes' if met else '**no**'} |"

    out = []
    for rows in (200_000, 1_000_000):
        seconds = eg(rows, "ours cold")
        if seconds:
            out.append(row(f"ingestion ≥ 100k rows/s at {rows:,} rows",
                           f"{rows / seconds:,.0f} rows/s", rows / seconds >= 100_000))
    ours, stock = get(200_000, "ours cold", "wall"), get(200_000, "stock set", "wall")
    if ours and stock:
        out.append(row("end to end at 200k rows ≤ 0.25× stock (cold wall)",
                       f"{ours:.0f} s / {stock:.0f} s = {ours / stock:.3f}×", ours / stock <= 0.25))
    wall, pss = get(1_000_000, "ours cold", "wall"), get(1_000_000, "ours cold", "tree_pss_mb")
    if wall:
        out.append(row("1M rows end to end ≤ 2 min", f"{wall:.0f} s", wall <= 120))
    if pss:
        out.append(row("1M rows peak memory ≤ 4 GB (PSS, all processes)", f"{pss:,.0f} MB",
                       pss <= 4096))
    for rows in sorted(summary):
        cold, warm = get(rows, "ours cold", "wall"), get(rows, "ours warm", "wall")
        if cold and warm:
            out.append(row(f"warm rerun ≤ 10% of cold ({rows:,} rows)",
                           f"{warm:.1f} s / {cold:.0f} s = {warm / cold:.1%}", warm / cold <= 0.10))
    ours, stock = get(BUNDLED, "ours cold", "wall"), get(BUNDLED, "stock set", "wall")
    if ours and stock:
        out.append(row(f"bundled {BUNDLED} rows no slower than the stock set",
                       f"{ours:.0f} s / {stock:.0f} s = {ours / stock:.3f}×", ours <= stock))
    return out


def render(summary: Dict, failures: List[Dict], commands: List[str]) -> str:
    lines = ["# Benchmark results", "",
             "Produced by `make bench` (`bench/run.py`); every figure is the median of the runs",
             "counted in its `n` column. Timings are whole processes under `/usr/bin/time -v`",
             "(wall clock; peak RSS is its \"Maximum resident set size\", the largest single",
             "process; \"all processes\" is the largest sum over the process tree, sampled every",
             "0.2 s, which counts our runner's forked node processes and Beam worker processes",
             "too: RSS counts the pages a forked process shares with its parent once per process,",
             "PSS splits them among the sharers, so the PSS sum is the memory the run holds);",
             "per-component seconds are ML",
             "Metadata execution times (create to last update).", "",
             f"* Machine: {machine()}",
             "* Commands: " + "; ".join(f"`{c}`" for c in commands),
             "* Data: `bench/generate.py`, seed 0, the bundled columns with class-conditional",
             "  values and missing values. Ours reads literal `NA` (as the bundled data has);",
             "  the stock set gets the same rows with empty fields instead, because stock",
             "  CsvExampleGen reads `NA` as text and would make the numeric columns strings.",
             f"* The {BUNDLED}-row size is the bundled data (all three spans as one span).",
             "* Ours warm: the rerun right after the cold run with nothing changed; `run`'s",
             "  up-to-date check (`pipeline/local/uptodate.py`) finds nothing changed and runs nothing.",
             "  Ours recheck: the same rerun with `--recheck`, so every component goes through",
             "  TFX's cache (the cold run's push now serves, and ServingBaseline keys on the",
             "  candidate and the state it was evaluated in, so all are cache hits).",
             "* Stock set: stock CsvExampleGen, StatisticsGen, SchemaGen, ExampleValidator,",
             "  Transform, Trainer, Evaluator, Pusher (`bench/stock_pipeline.py`) configured as the",
             "  TFX templates do (Transform materializes, TFMA's stock metrics, no flag against",
             "  TFX's per-component sdist build), with our preprocessing_fn, model and train",
             "  steps; its Evaluator has no change threshold (no serving baseline). Ours is the",
             "  full project pipeline (11 components, including DriftCheck and the Report),",
             "  cold = fresh output root.", "",
             "## End to end", "",
             "| rows | variant | n | wall s | peak RSS MB | peak RSS, all processes MB "
             "| peak PSS, all processes MB | ExampleGen s | ingest rows/s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rows in sorted(summary):
        for variant in VARIANTS:
            entry = summary[rows].get(variant)
            if not entry:
                continue
            eg = entry["components"].get("CsvExampleGen")
            cached = entry["states"].get("CsvExampleGen") == ["CACHED"]
            rate = ("skipped" if variant == "ours warm" and not entry["components"] else
                    "cached" if cached else (_fmt(rows / eg) if eg else "–"))
            lines.append(f"| {rows:,} | {variant} | {entry['n']} | {_fmt(entry['wall'])} | "
                         f"{_fmt(entry['rss_mb'])} | {_fmt(entry['tree_rss_mb'])} | "
                         f"{_fmt(entry['tree_pss_mb'])} | {_fmt(eg)} | {rate} |")
    lines += ["", "## Ratios (ours / stock, medians)", "",
              "| rows | ingestion (ExampleGen s) | end to end cold (wall) | warm / cold (ours) "
              "| recheck / cold (ours) |",
              "|---:|---:|---:|---:|---:|"]
    for rows in sorted(summary):
        s = summary[rows]
        get = lambda v, k: (s.get(v) or {}).get(k)  # noqa: E731
        eg = lambda v: ((s.get(v) or {}).get("components") or {}).get("CsvExampleGen")  # noqa: E731
        # Stock CsvExampleGen alone if measured, else the same component inside the stock set.
        stock_eg = eg("stock CsvExampleGen") or eg("stock set")
        lines.append(f"| {rows:,} | {_ratio(eg('ours cold'), stock_eg)} | "
                     f"{_ratio(get('ours cold', 'wall'), get('stock set', 'wall'))} | "
                     f"{_ratio(get('ours warm', 'wall'), get('ours cold', 'wall'))} | "
                     f"{_ratio(get('ours recheck', 'wall'), get('ours cold', 'wall'))} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    lines += target_rows(summary)
    lines += ["", "## Per component (median seconds)", "",
              "Ours warm has no column: it runs no component.", ""]
    for rows in sorted(summary):
        lines += [f"### {rows:,} rows", "",
                  "| component | ours cold | ours recheck | stock set |",
                  "|---|---:|---:|---:|"]
        s = summary[rows]
        comp = lambda v, n: ((s.get(v) or {}).get("components") or {}).get(n)  # noqa: E731
        for name in OUR_COMPONENTS + [n for n in STOCK_COMPONENTS if n not in OUR_COMPONENTS]:
            cells = [comp("ours cold", name), comp("ours recheck", name), comp("stock set", name)]
            if any(c is not None for c in cells):
                lines.append(f"| {name} | " + " | ".join(_fmt(c) for c in cells) + " |")
        lines.append("")
    if failures:
        lines += ["## Failed runs (not in the medians)", ""]
        lines += [f"* {f['rows']:,} rows, {f['variant']}, repeat {f['repeat']}: exit "
                  f"{f['status']} (log `{f['log']}`)" for f in failures]
        lines.append("")
    return "\n".join(lines)


def load_records(path: str) -> List[Dict]:
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{BUNDLED},10000,200000,1000000",
                        help="comma-separated row counts (344 = the bundled data)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--work", default=os.path.join(BENCH, "data"),
                        help="data, outputs, logs and results.jsonl (gitignored)")
    parser.add_argument("--results", default=os.path.join(BENCH, "RESULTS.md"))
    parser.add_argument("--fresh", action="store_true", help="forget earlier measurements")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    store = os.path.join(args.work, "results.jsonl")
    if args.fresh and os.path.exists(store):
        os.remove(store)
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    variants = [v.strip() for v in args.variants.split(",")]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(unknown)}")

    def write() -> None:
        records = load_records(store)
        commands = list(dict.fromkeys(r.get("command", command) for r in records))
        sections.write(args.results, render(summarize(records),
                                            [r for r in records if r["status"] != 0],
                                            commands or [command]))

    if not args.render_only:
        for rows in (int(s) for s in args.sizes.split(",")):
            roots = prepare_data(args.work, rows)
            for repeat in range(args.repeats):
                for variant in variants:
                    started = time.time()
                    record = measure(variant, rows, roots, args.work, repeat)
                    record["command"] = command
                    print(f"{rows:>9,} {variant:<20} #{repeat}: {record['wall']:.1f}s wall, "
                          f"{record['rss_mb']:.0f} MB, exit {record['status']} "
                          f"({time.time() - started:.0f}s)", flush=True)
                    with open(store, "a") as f:
                        f.write(json.dumps(record) + "\n")
                    write()
    write()


if __name__ == "__main__":
    main()
