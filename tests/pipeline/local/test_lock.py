"""The output-root lock: a second holder is refused with the first one's pid, or waits."""
import os
import subprocess
import sys
import threading

import pytest

from pipeline.local.lock import LockBusy, holder, output_root_lock
from tests.conftest import ROOT

HOLD = ("import sys, time\n"
        "from pipeline.local.lock import output_root_lock\n"
        "with output_root_lock(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n")


@pytest.fixture
def other_process(tmp_path):
    """Another process holding the lock on tmp_path until its stdin gets a line."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_holder_is_refused_with_the_first_ones_pid(tmp_path, other_process):
    with pytest.raises(LockBusy) as error:
        with output_root_lock(str(tmp_path)):
            pass
    assert f"another run is using {tmp_path} (pid {other_process.pid})" in str(error.value)


def test_wait_blocks_until_the_holder_ends(tmp_path, other_process):
    seen = []
    acquired = threading.Event()

    def take():
        with output_root_lock(str(tmp_path), wait=True, on_wait=seen.append):
            acquired.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    assert not acquired.wait(1.0)  # still held by the other process
    other_process.stdin.write("\n")
    other_process.stdin.flush()
    waiter.join(60)
    assert acquired.is_set() and seen == [other_process.pid]
    assert holder(str(tmp_path)) == os.getpid()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path, other_process):
    other_process.kill()
    other_process.wait()
    with output_root_lock(str(tmp_path)):
        assert holder(str(tmp_path)) == os.getpid()
