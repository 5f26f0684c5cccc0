"""`python -m bench.stack`: how long `make up` takes and how much memory the stack holds, with Airflow
against the same stack without it, measured in the same run.

For each variant (`MLOPS_STACK_AIRFLOW=false`, then `true`): a cold `up` into a fresh state folder
(first start: databases created, Airflow migrated), `down`, a warm `up` on the same data (what a
daily `make down && make up` costs), then the proportional memory (PSS) of every service's process
group while idle. Prints seconds, megabytes and the ratios with/without. Ports are free ports; state
lives under build/bench/stack/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ops.local.stack import Stack, StackSettings, process

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "bench" / "stack"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_block(size: int) -> int:
    """The first of `size` consecutive free ports (SeaweedFS lays its ports out from one base)."""
    for base in range(20000, 30000, size):
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {size} consecutive free ports")


def settings(folder: Path, mode: str, with_airflow: bool) -> StackSettings:
    return StackSettings.model_validate(
        {
            "mode": mode,
            "state_dir": folder,
            "mlflow_port": free_port(),
            "serving_port": free_port(),
            "slack_sink_port": free_port(),
            "airflow_port": free_port(),
            "control_port": free_port(),
            "postgres_port": free_port(),
            "s3_port": free_port(),
            "weed_base_port": free_block(7) if mode == "full" else 9333,
            "with_gateway": True,
            "with_airflow": with_airflow,
            "start_timeout": 600.0,
        }
    )


def pss_mb(pgid: int) -> float:
    """Proportional set size of every process in a process group (shared pages split fairly)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) != pgid:
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ProcessLookupError, ValueError):
            continue
    return total / 1024


@dataclass(frozen=True)
class Startup:
    """One variant's figures: seconds to a healthy stack, and idle memory per service (MB)."""

    cold: float
    warm: float
    memory: dict[str, float]

    @property
    def total_mb(self) -> float:
        return sum(self.memory.values())


def measure(mode: str, with_airflow: bool) -> Startup:
    folder = WORK / f"{mode}-{'airflow' if with_airflow else 'plain'}"
    shutil.rmtree(folder, ignore_errors=True)
    stack = Stack(settings(folder, mode, with_airflow))
    try:
        began = time.monotonic()
        stack.up(log=lambda _line: None)
        cold = time.monotonic() - began
        stack.down()
        began = time.monotonic()
        stack.up(log=lambda _line: None)
        warm = time.monotonic() - began
        time.sleep(20)  # idle: after start-up work (DAG parsing, first heartbeats)
        memory = {
            svc.name: pss_mb(pid)
            for svc in stack.services()
            if (pid := process.read_pid(svc.pid_file(stack.settings))) is not None
        }
        return Startup(cold, warm, memory)
    finally:
        stack.down()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "full"), default="embedded")
    args = parser.parse_args(argv)
    plain = measure(args.mode, with_airflow=False)
    airflow = measure(args.mode, with_airflow=True)
    print(f"local stack ({args.mode}), {os.cpu_count()} CPUs")
    print(f"{'':<30} {'without Airflow':>16} {'with Airflow':>14} {'ratio':>7}")
    rows = (
        ("first up (s)", plain.cold, airflow.cold),
        ("down, then up again (s)", plain.warm, airflow.warm),
        ("idle memory, PSS (MB)", plain.total_mb, airflow.total_mb),
    )
    for label, a, b in rows:
        print(f"{label:<30} {a:>16.1f} {b:>14.1f} {b / a:>7.2f}")
    for name, mb in airflow.memory.items():
        print(f"  {name:<28} {mb:>31.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
