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


def group_alive(pgid: int) -> bool:
    """Whether a member of the process group runs (zombies, whose parent has yet to reap them, do not)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for entry in Path("/proc").iterdir():
        fields = _proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def kill_group(pid: int) -> None:
    """SIGKILL a process group at once (a crash: nothing gets to clean up), and reap it when it is ours."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (pid_alive(pid) or group_alive(pid)):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)


def _orphaned(pgid: int) -> bool:
    """Members of group `pgid` still run but its leader is gone (killed with SIGKILL, its children live
    on). The kernel hands out no pid while a group of that number exists, so they are the leader's."""
    return not pid_alive(pgid) and group_alive(pgid)


def _recorded_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def leftovers_file(pid_file: Path) -> Path:
    """Where keep_leftovers records the groups of a service's earlier, killed leaders."""
    return pid_file.with_name(pid_file.name + ".leftover")


def keep_leftovers(pid_file: Path) -> int | None:
    """Before a service whose leader died starts again: what that leader left running (a LocalExecutor
    worker finishing its task, which reports to the API server on its own) keeps running, and its group
    is recorded so that stop() ends it with the service. Returns that group, or None."""
    pgid = _recorded_pid(pid_file)
    if pgid is None or read_pid(pid_file) is not None or not _orphaned(pgid):
        return None
    with leftovers_file(pid_file).open("a", encoding="utf-8") as out:
        out.write(f"{pgid}\n")
    return pgid


def _stop_group(pgid: int, timeout: float) -> bool:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    if _wait_gone(pgid, timeout):
        return True
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    _wait_gone(pgid, 5.0)
    return True


def _wait_gone(pgid: int, timeout: float) -> bool:
    """Wait until no member of the group runs (zombies left to their parent count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pgid, os.WNOHANG)  # reap it when this process started it (tests), or a zombie stays
        if not pid_alive(pgid) and not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop(pid_file: Path, timeout: float = 20.0, orphan_timeout: float = 5.0) -> bool:
    """SIGTERM the process group recorded in pid_file and wait until every member is gone (SIGKILL
    after timeout: a server's workers outlive their parent while they finish requests). Also the groups
    whose leader was killed with SIGKILL (the current one and those keep_leftovers recorded): their
    members get SIGKILL after orphan_timeout, as no leader tells them to finish (LocalExecutor workers
    ignore SIGTERM)."""
    leftovers = leftovers_file(pid_file)
    try:
        earlier = [int(line) for line in leftovers.read_text().split() if line.isdigit()]
    except OSError:
        earlier = []
    pid = read_pid(pid_file)
    recorded = _recorded_pid(pid_file)
    pid_file.unlink(missing_ok=True)
    leftovers.unlink(missing_ok=True)
    stopped = pid is not None and _stop_group(pid, timeout)
    orphans = [g for g in dict.fromkeys([*earlier, recorded]) if g is not None and g != pid and _orphaned(g)]
    for pgid in orphans:
        stopped = _stop_group(pgid, orphan_timeout) or stopped
    return stopped


def tail(log_file: Path, lines: int = 15) -> str:
    """The last lines of a log file (for error messages)."""
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
