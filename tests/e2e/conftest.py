"""A cold run of the bundled data that several e2e modules read, run once per session."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from tests.e2e.helpers import STEPS, cli, run_contexts


@dataclass
class PenguinsRun:
    """A cold ``run`` on the bundled data, and a rerun with nothing changed straight after it.

    The rerun is made here, before any test adds runs to the root, so that "nothing changed
    since the first run" holds whichever test reads it first. Tests may add runs to
    ``output_root`` but must not remove what the first run wrote or pushed.
    """
    output_root: str
    first: subprocess.CompletedProcess
    rerun: subprocess.CompletedProcess
    runs_before_rerun: int
    runs_after_rerun: int


@pytest.fixture(scope="session")
def penguins_run(tmp_path_factory) -> PenguinsRun:
    out = str(tmp_path_factory.mktemp("penguins-out"))
    first = cli("run", *STEPS, "--output-root", out)
    assert first.returncode == 0, first.stdout + first.stderr
    before = len(run_contexts(out))
    rerun = cli("run", *STEPS, "--output-root", out)
    return PenguinsRun(out, first, rerun, before, len(run_contexts(out)))


@pytest.fixture
def output_root(penguins_run) -> str:
    """The session's cold run's output root (a module may define its own)."""
    return penguins_run.output_root


@pytest.fixture
def first_run(penguins_run) -> subprocess.CompletedProcess:
    """The session's cold run on the bundled data (a module may define its own)."""
    return penguins_run.first
