"""Process groups of the stack's services: what a leader killed with SIGKILL left running (a scheduler's
LocalExecutor workers, which ignore SIGTERM) is stopped with the service, never lost."""

import os
import signal
import sys
import time
from pathlib import Path

from ops.local.stack import process
from tests.support.stack import REPO_ROOT

# A leader that starts a child ignoring SIGTERM (like a LocalExecutor worker) and waits.
CHILD = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('child', flush=True); time.sleep(600)"
)
LEADER = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}])
print("pid", child.pid, flush=True)
time.sleep(600)
"""


def start_leader(tmp_path: Path, name: str) -> tuple[int, int, Path]:
    """Start LEADER as a service; its pid, its child's pid, and the pid file."""
    pid_file, log = tmp_path / f"{name}.pid", tmp_path / f"{name}.log"
    leader = process.start([sys.executable, "-c", LEADER], {}, log, pid_file, REPO_ROOT)
    deadline = time.monotonic() + 60
    while "child" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    words = log.read_text().split()
    child = int(words[words.index("pid") + 1])
    return leader, child, pid_file


def kill_leader(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # reap it (a test started it): now only its child runs in its group


def alive(pid: int) -> bool:
    return process.pid_alive(pid)


def test_stop_ends_what_a_killed_leader_left_running(tmp_path: Path) -> None:
    leader, child, pid_file = start_leader(tmp_path, "scheduler")
    kill_leader(leader)
    assert alive(child) and process.read_pid(pid_file) is None
    assert process.stop(pid_file, orphan_timeout=1.0)
    assert not alive(child) and not pid_file.exists()


def test_a_restart_keeps_the_leftovers_running_until_stop(tmp_path: Path) -> None:
    leader, child, pid_file = start_leader(tmp_path, "scheduler")
    kill_leader(leader)
    # `make up` starts the service again: the old leader's child may be finishing a task, so it runs on.
    assert process.keep_leftovers(pid_file) == leader
    new_leader, new_child, _ = start_leader(tmp_path, "scheduler")
    assert alive(child) and alive(new_child)
    assert process.keep_leftovers(pid_file) is None  # the new leader runs: nothing left over
    # `make down` stops the running service and what the killed one left.
    assert process.stop(pid_file, timeout=5.0, orphan_timeout=1.0)
    assert not any(alive(p) for p in (child, new_leader, new_child))
    assert not process.leftovers_file(pid_file).exists()


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(f"{os.getpid()} 1\n")  # this test's own pid, with another start time
    assert process.keep_leftovers(pid_file) is None
    assert process.stop(pid_file) is False
    assert alive(os.getpid())


def test_down_stops_every_service_the_stack_can_start(tmp_path: Path) -> None:
    """`down` knows every service of the fullest stack, stops each (clients first, a step at a time)."""
    from ops.local.stack import Stack, StackSettings
    from ops.local.stack.stack import STOP_ORDER

    settings = StackSettings(
        MLOPS_STACK="full",
        MLOPS_STACK_DIR=tmp_path,
        MLOPS_STACK_GATEWAY="true",
        MLOPS_STACK_AIRFLOW="true",
        MLOPS_STACK_CONTROL="true",
    )
    stack = Stack(settings)
    services = stack.services()
    names = [svc.name for svc in services]
    assert sorted(names) == sorted(name for step in STOP_ORDER for name in step)
    for svc in services:  # a stand-in process per service, recorded in the service's pid file
        process.start(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            {},
            tmp_path / "x.log",
            svc.pid_file(settings),
            REPO_ROOT,
        )
    pids = [process.read_pid(svc.pid_file(settings)) for svc in services]
    assert all(pids)
    assert sorted(stack.down()) == sorted(names)
    assert not any(alive(pid) for pid in pids if pid)
