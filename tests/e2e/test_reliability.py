"""Reliability and security through the real CLI, on one output root shared by the module.

One good run (valid CSV dialects) makes version 1 serve; every bad input then fails without
touching it, and a good run after a failed one succeeds; a run killed in Trainer, while a
concurrent run is refused, resumes from the cache; a model trained on shuffled labels is not
blessed; and no fake secret from the environment shows up in anything a command printed or
wrote. Each test reads only what its own fixtures recorded, so any order works.
"""
from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
from typing import List

import pytest

from components.lib.serving_store import version_dirs
from pipeline.metadata import mlmd
from pipeline.config import NAME_PATTERN
from tests.bad_inputs.cases import BY_NAME, FAILING, SHUFFLED_LABELS
from tests.conftest import DATA, ROOT, span_file
from tests.e2e.helpers import (cli, error_lines, nodes_of, run_contexts, run_id_of,
                               tree_hash)
from tests.kubeflow.kfp_standin import KfpStandIn

pytestmark = pytest.mark.e2e
DIALECTS = BY_NAME["valid_dialects"].path
UPSTREAM = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform"]
# Recognisable fake secrets in the variables the code reads (kubeflow/submit.py: the KFP
# credentials) and one a storage library would: none may appear in anything a command
# writes or prints.
SECRETS = {"KFP_BEARER_TOKEN": "SECRET-xyz-bearer",
           "KFP_COOKIE": "authservice_session=SECRET-xyz-cookie",
           "AWS_SECRET_ACCESS_KEY": "SECRET-xyz-aws-key"}
ENV = {**os.environ, **SECRETS}
OUTPUTS: List[str] = []  # every stdout and stderr of the module's commands, for the secret scan


def run_cli(*args: str, command: str = "run") -> subprocess.CompletedProcess:
    extra = ["--train-steps", "60"] if command == "run" and "--config" not in args else []
    result = cli(command, *extra, *args, env=ENV)
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


@pytest.fixture(scope="module")
def output_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("reliability"))


@pytest.fixture(scope="module")
def good_run(output_root):
    """Valid CSV in four dialects (BOM, CRLF, all fields quoted, columns reordered) trains and ships."""
    result = run_cli("--output-root", output_root, "--data", DIALECTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Model: blessed, pushed as version 1" in result.stdout
    result.versions = sorted(version_dirs(os.path.join(output_root, "serving")))  # before others
    return result


def test_valid_csv_dialects_train_and_push(good_run, output_root):
    nodes = nodes_of(output_root, run_id_of(good_run.stdout))
    assert nodes["CsvExampleGen"].state == "COMPLETE" and nodes["Pusher"].state == "COMPLETE"
    assert good_run.versions == [1]
    assert error_lines(good_run.stderr) == []
    assert NAME_PATTERN.match(run_id_of(good_run.stdout))  # run names are valid Kubeflow names


@pytest.mark.parametrize("case", FAILING, ids=lambda c: c.name)
def test_bad_input_fails_with_one_line_and_changes_nothing(case, good_run, output_root):
    serving = os.path.join(output_root, "serving")
    # The root the command was given: the module's, but for the case about its own root.
    own_root = case.name == "config_unwritable_output_root"
    checked = os.path.join(case.path, "not-a-folder", "out") if own_root else output_root
    before_serving, before_runs = tree_hash(serving), run_contexts(output_root)
    before_case = tree_hash(case.path)
    if case.is_config:
        args = ["--config", os.path.join(case.path, "config.yaml")]
        if not own_root:
            args += ["--output-root", output_root]
    else:
        args = ["--output-root", output_root, "--data", case.path]
    result = run_cli(*args)

    assert result.returncode == 1, result.stdout + result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.stderr
    for text in case.expect:
        assert text in lines[0], lines[0]
    assert tree_hash(serving) == before_serving
    assert tree_hash(case.path) == before_case  # nothing written beside the case's input
    after_runs = run_contexts(output_root)
    if case.stage in ("config", "spans"):
        # Caught before any component: no run in ML Metadata, nothing in the output root.
        assert lines[0].startswith("Error: ")
        assert after_runs == before_runs
        if own_root:
            assert os.path.isfile(os.path.join(case.path, "not-a-folder"))
            assert not os.path.exists(checked)
            assert output_root not in result.stdout + result.stderr
        assert "Running" not in result.stdout
        return
    assert lines[0].startswith(f"  ✘ {case.stage} failed after ")
    nodes = nodes_of(output_root, run_id_of(result.stdout))
    assert set(after_runs) - set(before_runs) == {run_id_of(result.stdout)}
    assert nodes[case.stage].state == "FAILED"
    assert not {"Trainer", "Evaluator", "Pusher"} & set(nodes)
    assert all(n.state != "RUNNING" for n in nodes.values())  # nothing left half-run
    assert "Model: not evaluated, not pushed" in result.stdout


def test_a_good_run_succeeds_after_a_failed_one(good_run, output_root):
    """A run the gate stopped leaves the root usable: the next good run succeeds, from the
    cache where its inputs did not change."""
    failed = run_cli("--output-root", output_root, "--data", BY_NAME["unknown_label"].path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert nodes_of(output_root, run_id_of(failed.stdout))["ExampleValidator"].state == "FAILED"
    again = run_cli("--output-root", output_root, "--data", DIALECTS)
    assert again.returncode == 0, again.stdout + again.stderr
    nodes = nodes_of(output_root, run_id_of(again.stdout))
    assert {n: nodes[n].state for n in UPSTREAM} == dict.fromkeys(UPSTREAM, "CACHED")
    assert "Model: blessed" in again.stdout


def _wait_for(proc: subprocess.Popen, text: str) -> List[str]:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"the run ended before {text!r}: {''.join(seen)}")


@pytest.fixture(scope="module")
def killed_in_trainer(good_run, output_root):
    """A run (61 steps, so Trainer re-runs) killed with SIGKILL in Trainer, and a second
    run started while it held the output root."""
    before = run_contexts(output_root)
    args = [sys.executable, "-m", "pipeline", "run", "--train-steps", "61",
            "--output-root", output_root, "--data", DIALECTS]
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=stderr,
                                text=True, start_new_session=True)
        try:
            seen = _wait_for(proc, "▶ Trainer")
            concurrent = run_cli("--train-steps", "61", "--output-root", output_root,
                                 "--data", DIALECTS)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        seen += proc.stdout.readlines()
        stderr.seek(0)
        OUTPUTS.extend(["".join(seen), stderr.read()])
    (killed_run,) = set(run_contexts(output_root)) - set(before)
    return {"pid": proc.pid, "stdout": "".join(seen), "concurrent": concurrent,
            "run_id": killed_run, "returncode": proc.returncode}


def test_a_second_run_on_the_same_output_root_is_refused(killed_in_trainer, output_root):
    concurrent = killed_in_trainer["concurrent"]
    assert concurrent.returncode == 1
    assert error_lines(concurrent.stderr) == [
        f"Error: another run is using {output_root} (pid {killed_in_trainer['pid']}); "
        "wait for it to end or pass --wait"]
    assert "Running" not in concurrent.stdout


def test_killed_trainer_is_recorded_as_not_complete(killed_in_trainer, output_root):
    assert killed_in_trainer["returncode"] == -signal.SIGKILL
    assert "✔ Trainer" not in killed_in_trainer["stdout"]  # killed while training, not after
    nodes = nodes_of(output_root, killed_in_trainer["run_id"])
    assert nodes["Trainer"].state == "RUNNING"
    assert {n: nodes[n].state for n in UPSTREAM} == dict.fromkeys(UPSTREAM, "CACHED")
    assert "Pusher" not in nodes


def test_next_run_resumes_from_the_cache_and_never_reads_the_partial_model(
        killed_in_trainer, output_root):
    resumed = run_cli("--train-steps", "61", "--output-root", output_root, "--data", DIALECTS)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    nodes = nodes_of(output_root, run_id_of(resumed.stdout))
    assert {n: nodes[n].state for n in UPSTREAM} == dict.fromkeys(UPSTREAM, "CACHED")
    assert nodes["Trainer"].state == "COMPLETE"
    killed = nodes_of(output_root, killed_in_trainer["run_id"])["Trainer"].execution.id
    # The killed Trainer wrote (part of) its outputs under <node>/<key>/<execution id>.
    partial = re.compile(rf"/Trainer/[^/]+/{killed}(/|$)")
    with mlmd.open_store(os.path.join(output_root, "metadata.sqlite")) as store:
        events = store.get_events_by_execution_ids([e.id for e in store.get_executions()])
        read = store.get_artifacts_by_id(list({e.artifact_id for e in events
                                                if e.type == e.INPUT}))
    assert read and not [a.uri for a in read if partial.search(a.uri)]
    (model,) = nodes["Trainer"].outputs["model"]
    assert nodes["Evaluator"].inputs["model"][0].id == model.id
    # Only complete versions serve; a push is staged under a hidden name and renamed.
    serving = os.path.join(output_root, "serving")
    assert sorted(os.listdir(serving)) == [str(v) for v in sorted(version_dirs(serving))]


def test_a_model_trained_on_shuffled_labels_is_not_blessed_and_the_summary_says_why(
        good_run, output_root):
    serving = os.path.join(output_root, "serving")
    before = tree_hash(serving)
    result = run_cli("--output-root", output_root, "--data", SHUFFLED_LABELS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Model: NOT blessed, not pushed" in result.stdout
    why = re.search(r"^  NOT blessed: accuracy (\d\.\d\d) < 0\.80", result.stdout, re.M)
    assert why and float(why.group(1)) < 0.8, result.stdout
    nodes = nodes_of(output_root, run_id_of(result.stdout))
    assert mlmd.prop(nodes["Evaluator"].outputs["blessing"][0], "blessed") == 0
    assert mlmd.prop(nodes["Pusher"].outputs["pushed_model"][0], "pushed") == 0
    assert tree_hash(serving) == before


def _leaks(texts: List[str], folder: str) -> List[str]:
    """Where any of the fake secrets shows: which of ``texts``, which file under ``folder``."""
    found = []
    for secret in SECRETS.values():
        found += [f"output #{i}: {secret}" for i, text in enumerate(texts) if secret in text]
        for root, _, files in os.walk(folder):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    if secret.encode() in f.read():
                        found.append(f"{os.path.join(root, name)}: {secret}")
    return found


def test_no_secret_from_the_environment_is_written_or_printed(good_run, output_root, tmp_path):
    """Every command, with the fake credentials in its environment: the outputs of this
    test's commands and of every command the module ran before it, and every file under the
    output root (ML Metadata, artifacts, pushed models, reports, the compiled spec)."""
    run_id = run_id_of(good_run.stdout)
    spec = os.path.join(output_root, "compiled", "pipeline.yaml")
    batch = os.path.join(output_root, "batch.csv")
    with open(span_file(1), newline="") as src, open(batch, "w", newline="") as dst:
        rows = list(csv.DictReader(src))
        writer = csv.DictWriter(dst, [c for c in rows[0] if c != "species"],
                                extrasaction="ignore")  # serving requests carry no label
        writer.writeheader()
        writer.writerows(rows)
    monitored = os.path.join(output_root, "monitoring", "batch.json")
    commands = {
        "run (gate fails)": ("run", "--output-root", output_root,
                             "--data", BY_NAME["text_in_number"].path),
        "report": ("report", "--output-root", output_root, "--run", run_id),
        "models": ("models", "--output-root", output_root, "--json"),
        "models show": ("models", "show", run_id, "--output-root", output_root),
        "monitor": ("monitor", "--output-root", output_root, "--data", batch,
                    "--report", monitored),
        # Refused (no such version), so the serving folder other tests read is left alone.
        "rollback": ("rollback", "--output-root", output_root, "--to", "99",
                     "--reason", "secret scan"),
        "infer-schema": ("infer-schema", "--data", DATA, "--label", "species",
                         "--output", os.path.join(output_root, "inferred.pbtxt")),
        "compile": ("compile", "--output", spec),
    }
    results = {name: run_cli(*args[1:], command=args[0]) for name, args in commands.items()}
    # Each command did its work (so the scan covers what it prints and writes when it works).
    assert results["run (gate fails)"].returncode == 1
    for name in ("report", "models", "models show", "infer-schema", "compile"):
        assert results[name].returncode == 0, (name, results[name].stderr)
    assert os.path.isfile(os.path.join(output_root, "reports", f"{run_id}.html"))
    assert run_id in results["models"].stdout and "produced by Trainer" in results[
        "models show"].stdout
    assert os.path.isfile(monitored), results["monitor"].stdout + results["monitor"].stderr
    assert "no version 99" in results["rollback"].stderr
    assert os.path.getsize(os.path.join(output_root, "inferred.pbtxt")) > 0
    assert os.path.getsize(spec) > 0

    # submit is the one command that reads the credentials: it must send them to the
    # (stand-in) API server and nowhere else.
    with KfpStandIn() as standin:
        submitted = run_cli(spec, "--host", standin.host, command="submit")
        refused_standin = KfpStandIn(status=403)
        with refused_standin:
            refused = run_cli(spec, "--host", refused_standin.host, command="submit")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert refused.returncode == 1, refused.stdout + refused.stderr
    sent = [{k.lower(): v for k, v in r.headers.items()} for r in standin.requests
            if r.method == "POST"]
    assert sent and all(h.get("authorization") == f"Bearer {SECRETS['KFP_BEARER_TOKEN']}"
                        and SECRETS["KFP_COOKIE"] in h.get("cookie", "") for h in sent)
    assert not [r.path for r in standin.requests + refused_standin.requests
                if any(secret in r.raw for secret in SECRETS.values())]  # not in any body

    assert _leaks(OUTPUTS, output_root) == []
