"""Reliability and security through the real CLI, on one output root shared by the module.

Order matters and follows the file: one good run (valid CSV dialects) makes version 1
serve; every bad input then fails without touching it; a run killed in Trainer, while a
concurrent run is refused, resumes from the cache (the good run that must succeed after
the bad inputs); a model trained on shuffled labels is not blessed; and no fake secret
from the environment shows up anywhere the runs wrote.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
from typing import Dict, List

import pytest

from components.serving_baseline import version_dirs
from pipeline import mlmd
from pipeline.config import NAME_PATTERN
from tests.bad_inputs.cases import BY_NAME, FAILING, SHUFFLED_LABELS
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e
DIALECTS = BY_NAME["valid_dialects"].path
UPSTREAM = ["CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "Transform"]
# Recognisable fake secrets: none may appear in anything a run writes or prints.
SECRETS = {"KF_PIPELINES_TOKEN": "SECRET-xyz-kfp-token",
           "AWS_SECRET_ACCESS_KEY": "SECRET-xyz-aws-key",
           "KF_PIPELINES_COOKIE": "authservice_session=SECRET-xyz-cookie",
           "KFP_BEARER_TOKEN": "SECRET-xyz-bearer"}
ENV = {**os.environ, **SECRETS}
OUTPUTS: List[str] = []  # every stdout and stderr of the module's runs, for the secret scan


def run_cli(*args: str, command: str = "run") -> subprocess.CompletedProcess:
    extra = ["--train-steps", "60"] if command == "run" and "--config" not in args else []
    result = subprocess.run([sys.executable, "-m", "pipeline", command, *extra, *args],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
    OUTPUTS.extend([result.stdout, result.stderr])
    return result


def run_id_of(output: str) -> str:
    return re.search(r"^Run (\S+) on span", output, re.M).group(1)


def run_contexts(output_root: str) -> Dict[str, int]:
    path = os.path.join(output_root, "metadata.sqlite")
    if not os.path.exists(path):
        return {}
    with mlmd.open_store(path) as store:
        return {c.name: c.id for c in store.get_contexts_by_type("pipeline_run")}


def nodes_of(output_root: str, run_id: str):
    with mlmd.open_store(os.path.join(output_root, "metadata.sqlite")) as store:
        return mlmd.run_nodes(store, run_id)


def tree_hash(folder: str) -> str:
    """Every file's relative path and bytes under ``folder``."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(folder)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def error_lines(stderr: str) -> List[str]:
    """What a person sees on stderr, minus blank lines."""
    return [line for line in stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def output_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("reliability"))


@pytest.fixture(scope="module")
def good_run(output_root):
    """Valid CSV in four dialects (BOM, CRLF, all fields quoted, columns reordered) trains and ships."""
    result = run_cli("--output-root", output_root, "--data", DIALECTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Model: blessed, pushed as version 1" in result.stdout
    return result


def test_valid_csv_dialects_train_and_push(good_run, output_root):
    nodes = nodes_of(output_root, run_id_of(good_run.stdout))
    assert nodes["CsvExampleGen"].state == "COMPLETE" and nodes["Pusher"].state == "COMPLETE"
    assert sorted(version_dirs(os.path.join(output_root, "serving"))) == [1]
    assert error_lines(good_run.stderr) == []
    assert NAME_PATTERN.match(run_id_of(good_run.stdout))  # run names are valid Kubeflow names


@pytest.mark.parametrize("case", FAILING, ids=lambda c: c.name)
def test_bad_input_fails_with_one_line_and_changes_nothing(case, good_run, output_root):
    serving = os.path.join(output_root, "serving")
    before_serving, before_runs = tree_hash(serving), run_contexts(output_root)
    if case.is_config:
        args = ["--config", os.path.join(case.path, "config.yaml")]
        if case.name != "config_unwritable_output_root":  # that case is about its own root
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
    after_runs = run_contexts(output_root)
    if case.stage in ("config", "spans"):
        # Caught before any component: no run in ML Metadata, nothing in the output root.
        assert lines[0].startswith("Error: ")
        assert after_runs == before_runs
        assert "Running" not in result.stdout
        return
    assert lines[0].startswith(f"  ✘ {case.stage} failed after ")
    nodes = nodes_of(output_root, run_id_of(result.stdout))
    assert set(after_runs) - set(before_runs) == {run_id_of(result.stdout)}
    assert nodes[case.stage].state == "FAILED"
    assert not {"Trainer", "Evaluator", "Pusher"} & set(nodes)
    assert all(n.state != "RUNNING" for n in nodes.values())  # nothing left half-run
    assert "Model: not evaluated, not pushed" in result.stdout


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
    """Also the good run after every bad input: it must succeed on the same output root."""
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


def test_no_secret_from_the_environment_is_written_or_printed(good_run, output_root):
    if run_cli("--help", command="compile").returncode == 0:  # the Kubeflow spec too
        spec = os.path.join(output_root, "compiled", "pipeline.yaml")
        compiled = run_cli("--output", spec, command="compile")
        assert compiled.returncode == 0 and os.path.getsize(spec) > 0, compiled.stderr
    assert len(OUTPUTS) >= 4  # the runs above have been recorded
    leaks = []
    for secret in SECRETS.values():
        needle = secret.encode()
        leaks += [f"output #{i}" for i, text in enumerate(OUTPUTS) if secret in text]
        for root, _, files in os.walk(output_root):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    if needle in f.read():
                        leaks.append(os.path.join(root, name))
    assert leaks == []
