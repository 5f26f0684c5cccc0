"""PostgreSQL for the full stack: initdb/pg_ctl into the state folder, run as a non-root user."""

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ops.local.stack.errors import StackError

DATABASES = ("mlflow", "serving", "airflow", "control")


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise StackError(f"PostgreSQL's {name} is not installed; run: bash ci/system-deps.sh postgresql")


def _as_owner(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run through runuser as the postgres user when root."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _chown_to_owner(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(path):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def _check_reachable(path: Path) -> None:
    """The postgres user must be able to reach its data folder through every parent folder."""
    if os.geteuid() != 0:
        return
    for ancestor in path.resolve().parents:
        if not ancestor.stat().st_mode & 0o001:
            raise StackError(
                f"the postgres user cannot reach {path}: {ancestor} is not searchable by others; "
                f"run `chmod o+x {ancestor}` or set MLOPS_STACK_DIR to a folder it can reach"
            )


class Postgres:
    """One PostgreSQL cluster under <state>/postgres, listening on 127.0.0.1:<port> only."""

    def __init__(self, base: Path, host: str, port: int, log_file: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.sockets = base / "run"
        self.host = host
        self.port = port
        self.log_file = log_file

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(_as_owner(argv), capture_output=True, text=True, check=False, **kwargs)

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb once (trust auth on loopback only: a local development cluster)."""
        self.sockets.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        if not self.initialized():
            self.data.mkdir(parents=True, exist_ok=True)
            _check_reachable(self.base)
            _chown_to_owner(self.base)
            result = self._run(
                [_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            )
            if result.returncode != 0:
                raise StackError(f"initdb failed: {result.stderr.strip()[-500:]}")
        _chown_to_owner(self.base)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def running(self) -> bool:
        return self._run([_bin("pg_ctl"), "-D", str(self.data), "status"]).returncode == 0

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses={self.host}"
        result = self._run(
            [
                _bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        if result.returncode != 0:
            raise StackError(f"postgres did not start: {result.stderr.strip()[-300:]} (log: {self.log_file})")

    def stop(self) -> bool:
        if not self.initialized() or not self.running():
            return False
        self._run([_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        return True

    def ready(self) -> bool:
        result = self._run([_bin("pg_isready"), "-h", self.host, "-p", str(self.port), "-q"])
        return result.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = self._run(
            [
                _bin("psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ]
        )
        if result.returncode != 0:
            raise StackError(f"psql failed ({sql[:60]}...): {result.stderr.strip()[-300:]}")
        return result.stdout.strip()

    def ensure_databases(
        self, extra: Sequence[str] = (), user: str = "mlops", password: str = "mlops"
    ) -> None:
        """Create the application role and databases (DATABASES and `extra`) once."""
        if self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'") != "1":
            self.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        for name in dict.fromkeys([*DATABASES, *extra]):
            if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
                self.psql(f"CREATE DATABASE {name} OWNER {user}")
