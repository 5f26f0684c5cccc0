"""Start and stop background processes tracked by pid files (only what the stack started)."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def start_time(pid: int) -> str | None:
    """When the process started (clock ticks since boot): tells a reused pid from the one recorded."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    return fields is None or fields[0] != "Z"


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in a pid file, when that same process still runs (not a reused pid)."""
    try:
        recorded = pid_file.read_text().split()
        pid = int(recorded[0])
    except (OSError, ValueError, IndexError):
        return None
    if not pid_alive(pid):
        return None
    if len(recorded) > 1 and start_time(pid) not in (None, recorded[1]):
        return None
    return pid


def start(argv: Sequence[str], env: Mapping[str, str], log_file: Path, pid_file: Path, cwd: Path) -> int:
    """Start argv detached in its own session, output appended to log_file; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            env={**os.environ, **env},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid} {start_time(proc.pid) or ''}\n")
    return proc.pid


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid_file: Path, timeout: float = 20.0) -> bool:
    """SIGTERM the process group recorded in pid_file and wait until every member is gone (SIGKILL
    after timeout: a server's workers outlive their parent while they finish requests)."""
    pid = read_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when this process started it (tests), or a zombie stays
        if not pid_alive(pid) and not _group_alive(pid):
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    return True


def tail(log_file: Path, lines: int = 15) -> str:
    """The last lines of a log file (for error messages)."""
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
