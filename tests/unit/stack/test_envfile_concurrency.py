"""`.stack/env` read and written by several processes at once (the e2e race test's four clients, `make
status` or `make demo` while `make up` runs): a generated secret is made once and never replaced, and no
reader ever sees a half-written file. Before the fix a reader of a truncated file generated new
passwords and wrote them over the stack's (Airflow then refused the CI user)."""

import multiprocessing
from pathlib import Path

from ops.local.stack.envfile import read_env_file, token, write_env_file

GENERATED = {"INTERNAL_API_KEY": token, "AIRFLOW_API_PASSWORD": token, "AIRFLOW_ADMIN_PASSWORD": token}


def _write_many(path: str, rounds: int, out: "multiprocessing.Queue[dict[str, str]]") -> None:
    seen = {}
    for i in range(rounds):
        merged = write_env_file(Path(path), {"SERVING_URL": f"http://x:{i}"}, GENERATED)
        for name in GENERATED:
            seen.setdefault(name, set()).add(merged[name])
        values = read_env_file(Path(path))
        for name in GENERATED:
            seen[name].add(values.get(name, "<missing>"))
    out.put({name: sorted(v) for name, v in seen.items()})


def test_concurrent_writers_keep_every_generated_secret(tmp_path: Path) -> None:
    path = tmp_path / "env"
    first = write_env_file(path, {}, GENERATED)
    queue: multiprocessing.Queue[dict[str, str]] = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=_write_many, args=(str(path), 200, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    for seen in results:
        assert seen == {name: [first[name]] for name in GENERATED}
    assert {k: read_env_file(path)[k] for k in GENERATED} == {k: first[k] for k in GENERATED}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not [p.name for p in tmp_path.iterdir() if p.name not in {"env", "env.lock"}]


def test_an_unchanged_file_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "env"
    write_env_file(path, {"A": "1"}, GENERATED)
    before = path.stat().st_mtime_ns, path.stat().st_ino
    write_env_file(path, {"A": "1"}, GENERATED)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
