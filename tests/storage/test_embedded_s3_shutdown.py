"""The embedded S3 server never outlives the platform: not after a second SIGTERM during shutdown
(``make`` forwards every signal to the whole process group), not after the platform is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

#: A runner like `sdx run`: SIGTERM becomes KeyboardInterrupt, which leaves the `with` and stops weed.
RUNNER = """
import signal, sys, time
from storage.embedded import EmbeddedS3

def stop_on_sigterm(signum, frame):
    raise KeyboardInterrupt

signal.signal(signal.SIGTERM, stop_on_sigterm)
with EmbeddedS3(sys.argv[1], stop_grace=float(sys.argv[2])) as server:
    try:
        print(server._process.pid, flush=True)
        while True:
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("stopping", flush=True)
print("stopped", flush=True)
"""


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def runner(tmp_path):
    """Start the runner in its own process group (as `make run` does); yield it with weed's pid."""
    started = []

    def start(stop_grace: float) -> tuple[subprocess.Popen, int]:
        process = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path / "s3"), str(stop_grace)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True, env=dict(os.environ, PYTHONPATH=os.getcwd()))
        weed = int(process.stdout.readline())
        started.append((process, weed))
        return process, weed

    yield start
    for process, weed in started:  # never leave a server behind, whatever the test found
        for pid in (process.pid, weed):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process tree")
def test_a_second_sigterm_during_shutdown_does_not_abandon_weed(runner):
    process, weed = runner(stop_grace=5.0)
    os.killpg(process.pid, signal.SIGTERM)
    assert process.stdout.readline().strip() == "stopping", process.stderr.read()
    time.sleep(0.3)  # the runner is now waiting for weed to exit
    os.killpg(process.pid, signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.strip() == "stopped" and "Traceback" not in err
    assert gone_within(weed, 2), "weed outlived the runner"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process tree")
def test_weed_dies_with_a_killed_platform(runner):
    process, weed = runner(stop_grace=3.0)
    assert alive(weed)
    os.killpg(process.pid, signal.SIGKILL)  # no chance to stop anything
    process.wait(10)
    assert gone_within(weed, 5), "weed outlived the killed runner"
