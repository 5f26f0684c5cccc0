"""`python -m bench.serving`: the gateway against mlflow serve, MLServer and KServe, same model, same load.

Steps: start a throwaway MLflow server under build/bench/, register two iris versions and a random forest
of 200 trees with the trainer CLI; serve iris version 1 four ways (1 worker each: `mlflow models serve`,
MLServer with `parallel_workers: 0`, KServe's ModelServer, the gateway); check that all four return the
same predictions for the same 100 rows (stop with the difference if not); drive each with
`wrk -t1 -c8 -d10s` in interleaved rounds; measure the heavy workload (the forest, 32 rows per request)
against a bare in-process `pyfunc.predict` loop; run 100 reloads under load and report failed requests
and RSS growth. All ports are free ports picked at start.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.load import Result, counts, median_round, script, wrk
from bench.servers import (
    KSERVE_PACKAGES,
    MLSERVER_PACKAGES,
    ROOT,
    WORK,
    Process,
    download,
    ensure_venv,
    log,
    serve_gateway,
    serve_kserve,
    serve_mlflow,
    serve_mlserver,
    start_mlflow,
)

MODEL = "bench-iris"
FOREST = "bench-forest"
COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROW = [5.1, 3.5, 1.4, 0.2]
HEAVY_ROWS = 32
SERVERS = ("mlflow-serve", "mlserver", "kserve", "gateway")


def split_body(rows: list[list[float]]) -> str:
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows}})


def v2_body(rows: list[list[float]]) -> str:
    inputs = [
        {"name": c, "shape": [len(rows)], "datatype": "FP64", "data": [r[i] for r in rows]}
        for i, c in enumerate(COLUMNS)
    ]
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": inputs})


def kserve_body(rows: list[list[float]]) -> str:
    return json.dumps({"instances": rows})


BODIES: dict[str, Callable[[list[list[float]]], str]] = {
    "mlflow-serve": split_body,
    "mlserver": v2_body,
    "kserve": kserve_body,
    "gateway": split_body,
}


def predictions(name: str, url: str, rows: list[list[float]], headers: dict[str, str]) -> list[Any]:
    """What one server answers for these rows."""
    response = httpx.post(
        url, content=BODIES[name](rows), headers={"Content-Type": "application/json", **headers}, timeout=60
    )
    if response.status_code != 200:
        raise RuntimeError(f"{name} answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    return body["outputs"][0]["data"] if name == "mlserver" else body["predictions"]


def iris_rows(count: int, seed: int = 7) -> list[list[float]]:
    from sklearn.datasets import load_iris

    data = load_iris().data
    rng = np.random.default_rng(seed)
    return data[rng.choice(len(data), count, replace=count > len(data))].tolist()


def same_predictions(servers: dict[str, str], key: str) -> str | None:
    """None when every server answers the same 100 rows the same, else the first difference."""
    rows = iris_rows(100)
    pin = {"X-Variant": "champion", "X-API-Key": key}  # the gateway routes 10% to the challenger
    answers = {
        name: predictions(name, url, rows, pin if name == "gateway" else {}) for name, url in servers.items()
    }
    reference_name, reference = next(iter(answers.items()))
    for name, answer in answers.items():
        if answer != reference:
            index = next((i for i, (a, b) in enumerate(zip(answer, reference, strict=False)) if a != b), None)
            if index is None:
                return f"{name} answered {len(answer)} predictions, {reference_name} {len(reference)}"
            return (
                f"row {index} {rows[index]}: {name} answered {answer[index]!r}, "
                f"{reference_name} {reference[index]!r}"
            )
    return None


# -- setup --------------------------------------------------------------------------------------------
def trainer(args: list[str], env: dict[str, str], folder: Path) -> dict:
    result = folder / f"result-{time.monotonic_ns()}.json"
    subprocess.run(
        [sys.executable, "-m", "trainer", *args, "--result-file", str(result)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return json.loads(result.read_text())


def register(uri: str, folder: Path, name: str, **overrides: Any) -> str:
    env = {"MLFLOW_TRACKING_URI": uri}
    config = {**json.loads((ROOT / "trainer" / "configs" / "iris.json").read_text()), "model_name": name}
    config.update(overrides)
    path = folder / f"{name}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    trained = trainer(["train", "--config", str(path)], env, folder)
    return str(trainer(["register", "--run-id", trained["run_id"], "--name", name], env, folder)["version"])


def set_alias(uri: str, model: str, alias: str, version: str) -> None:
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(model, alias, version)


def gateway_models() -> list[dict[str, Any]]:
    canary = {
        "steps": [10, 25, 50, 100],
        "interval_seconds": 3600,
        "gates": {"max_error_rate": 0.5, "max_p99_ms": 10000, "min_requests": 100},
    }
    return [
        {
            "name": "iris",
            "registered_model": MODEL,
            "strategy": "canary",
            "variants": [
                {"name": "champion", "alias": "champion", "weight": 90},
                {"name": "challenger", "alias": "challenger", "weight": 10},
            ],
            "canary": canary,
        },
        {
            "name": "forest",
            "registered_model": FOREST,
            "strategy": "single",
            "variants": [{"name": "main", "alias": "champion", "weight": 100}],
        },
    ]


# -- reloads under load ---------------------------------------------------------------------------------
def reloads_under_load(
    gateway: Process, base: str, uri: str, versions: tuple[str, str], key: str, count: int, connections: int
) -> tuple[int, int, int, int, int]:
    """(reloads, failed requests, total requests, RSS before, RSS after) of `count` alternating reloads."""
    body = split_body([ROW])
    warm = wrk("gateway-warm", f"{base}/v1/models/iris/predict", body, 3, connections)
    if warm.failed:
        raise RuntimeError(f"gateway failed {warm.failed} requests before the reloads")
    rss_before = gateway.rss()
    # wrk cannot be told to stop early from here: run it for long and end it with SIGINT after the reloads.
    lua = script("gateway-reloads", body)
    argv = ["wrk", "-t1", f"-c{connections}", "-d600s", "--latency", "-s", str(lua)]
    runner = subprocess.Popen([*argv, f"{base}/v1/models/iris/predict"], stdout=subprocess.PIPE, text=True)
    done = 0
    with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": key}) as client:
        time.sleep(1)
        for i in range(count):
            version = versions[(i + 1) % 2]
            set_alias(uri, MODEL, "champion", version)
            answer = client.post("/variant/champion/reload", params={"model": "iris"})
            if answer.status_code != 200 or answer.json()["version"] != version:
                raise RuntimeError(f"reload {i} answered {answer.status_code}: {answer.text[:300]}")
            done += 1
    time.sleep(1)
    runner.send_signal(signal.SIGINT)
    out, _ = runner.communicate(timeout=30)
    total, failed = counts(out)
    return done, failed, total, rss_before, gateway.rss()


# -- heavy workload: the model dominates ----------------------------------------------------------------
def bare_loop(pyfunc: Any, frame: Any, seconds: float) -> float:
    """Predictions per second of pyfunc.predict in this process, one call after the other."""
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        pyfunc.predict(frame)
        done += 1
    return done / (time.perf_counter() - started)


def heavy(
    uri: str, version: str, base: str, rounds: int, duration: int, connections: int
) -> tuple[Result, float]:
    """(gateway's median wrk round, median bare loop rate) for the forest, 32 rows per request."""
    import mlflow.pyfunc
    import pandas as pd

    rows = iris_rows(HEAVY_ROWS, seed=11)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    mlflow.set_tracking_uri(uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{FOREST}/{version}")
    url = f"{base}/v1/models/forest/predict"
    if predictions("gateway", url, rows, {}) != pyfunc.predict(frame).tolist():
        raise RuntimeError("the gateway and pyfunc disagree on the forest's 32 rows")
    bare_loop(pyfunc, frame, 2)
    wrk("gateway-heavy-warm", url, split_body(rows), 2, connections)
    results: list[Result] = []
    bare: list[float] = []
    for round_ in range(rounds):
        bare.append(bare_loop(pyfunc, frame, duration))
        results.append(wrk("gateway-heavy", url, split_body(rows), duration, connections))
        log(f"heavy round {round_ + 1}: gateway {results[-1].rps:.1f} rps, bare loop {bare[-1]:.1f}/s")
    return median_round(results), float(np.median(bare))


# -- main -----------------------------------------------------------------------------------------------
def start_server(
    name: str, start: Callable[[], tuple[Process, str]], body: str, connections: int
) -> tuple[Process, str] | None:
    """Start one server, check one answer and warm it up; None (logged) when it cannot start."""
    log(f"starting {name}")
    try:
        process, url = start()
    except Exception as error:
        log(f"{name} could not start: {error}")
        return None
    try:
        wrk(f"{name}-warm", url, body, 2, connections)
    except Exception as error:
        log(f"{name} does not answer: {error}")
        process.stop()
        return None
    return process, url


def ratio(a: float | None, b: float | None, digits: int) -> str:
    return f"{a / b:.{digits}f}" if a is not None and b else "n/a"


def report(args: argparse.Namespace, results: dict[str, Result | None], extra: dict[str, Any]) -> None:
    print(
        f"wrk -t1 -c{args.connections} -d{args.duration}s, one worker each, POST of one iris row, "
        f"median of {args.rounds} interleaved rounds"
    )
    print(f"{'server':<14}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}{'failed':>8}")
    for name in SERVERS:
        if name in results:
            r = results[name]
            if r is None:
                print(f"{name:<14}{'n/a':>10}")
            else:
                print(f"{name:<14}{r.rps:>10.1f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}{r.failed:>8}")
    print(extra["agreement"])
    done, failed, total, before, after = extra["reloads"]
    growth = 100.0 * (after - before) / before if before else 0.0
    print(
        f"reloads under load: {done} reloads, {failed} failed requests of {total}, "
        f"RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB ({growth:+.1f}%)"
    )
    heavy_result, bare_rate = extra["heavy"]
    print(
        f"heavy: random forest of 200 trees, {HEAVY_ROWS} rows per request, median of {args.heavy_rounds} "
        f"rounds: gateway {heavy_result.rps:.1f} rps (p99 {heavy_result.p99_ms:.2f} ms, "
        f"failed {heavy_result.failed}), bare pyfunc.predict loop {bare_rate:.1f}/s"
    )
    print(f"heavy: gateway/bare rps ratio: {ratio(heavy_result.rps, bare_rate, 2)}")

    def figures(name: str) -> tuple[float | None, float | None]:
        r = results.get(name)
        return (r.rps, r.p99_ms) if r else (None, None)

    (g_rps, g_p99), (m_rps, m_p99) = figures("gateway"), figures("mlflow-serve")
    (s_rps, _), (k_rps, k_p99) = figures("mlserver"), figures("kserve")
    print(
        f"gateway/mlflow-serve rps ratio: {ratio(g_rps, m_rps, 1)}  p99 ratio: {ratio(g_p99, m_p99, 2)}  "
        f"gateway/mlserver rps ratio: {ratio(g_rps, s_rps, 1)}  "
        f"gateway/kserve rps ratio: {ratio(g_rps, k_rps, 2)}  kserve p99 ratio: {ratio(g_p99, k_p99, 2)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per server and round")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (-c)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per server (median)")
    parser.add_argument("--heavy-rounds", type=int, default=3, help="rounds of the heavy workload (median)")
    parser.add_argument("--reloads", type=int, default=100, help="reloads under load")
    parser.add_argument("--skip-peers", action="store_true", help="only the gateway (no ratios)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed: run `bash ci/system-deps.sh wrk`", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    key = os.urandom(16).hex()
    tracking, uri = start_mlflow(folder)
    servers: dict[str, tuple[Process, str] | None] = {}
    extra: dict[str, Any] = {}
    try:
        log("registering two iris versions and a random forest of 200 trees with the trainer")
        v1 = register(uri, folder, MODEL, hyperparameters={"C": 1.0, "max_iter": 500})
        v2 = register(uri, folder, MODEL, hyperparameters={"C": 0.05, "max_iter": 500})
        forest = register(
            uri, folder, FOREST, algorithm="random_forest", hyperparameters={"n_estimators": 200}
        )
        set_alias(uri, MODEL, "champion", v1)
        set_alias(uri, MODEL, "challenger", v2)
        set_alias(uri, FOREST, "champion", forest)
        one_row = {name: body([ROW]) for name, body in BODIES.items()}
        gateway_base: dict[str, str] = {}

        def start_gateway() -> tuple[Process, str]:
            process, base = serve_gateway(uri, folder, key, gateway_models())
            gateway_base["url"] = base
            return process, f"{base}/v1/models/iris/predict"

        if not args.skip_peers:
            import mlflow

            mlflow.set_tracking_uri(uri)
            local = download(uri, MODEL, v1, folder)
            starters: dict[str, Callable[[], tuple[Process, str]]] = {
                "mlflow-serve": lambda: serve_mlflow(uri, MODEL, v1),
                "mlserver": lambda: serve_mlserver(ensure_venv("mlserver", MLSERVER_PACKAGES), local, folder),
                "kserve": lambda: serve_kserve(ensure_venv("kserve", KSERVE_PACKAGES), local, folder),
            }
            for name, start in starters.items():
                servers[name] = start_server(name, start, one_row[name], args.connections)
        servers["gateway"] = start_server("gateway", start_gateway, one_row["gateway"], args.connections)
        if servers["gateway"] is None:
            raise RuntimeError("the gateway did not start: see build/bench/gateway.log")
        running = {name: server[1] for name, server in servers.items() if server}
        difference = same_predictions(running, key)
        if difference is not None:
            print(f"bench: the servers disagree on the same rows: {difference}", file=sys.stderr)
            return 1
        extra["agreement"] = f"same predictions: {', '.join(running)} agree on 100 iris rows"
        log(extra["agreement"])
        # all servers stay up (idle ones cost no CPU) and take turns, so each round sees the same machine
        rounds: dict[str, list[Result]] = {name: [] for name in running}
        for round_ in range(args.rounds):
            for name, url in running.items():
                result = wrk(name, url, one_row[name], args.duration, args.connections)
                rounds[name].append(result)
                log(
                    f"round {round_ + 1} {name}: {result.rps:.1f} rps, p50 {result.p50_ms:.2f} ms, "
                    f"p99 {result.p99_ms:.2f} ms, failed {result.failed}"
                )
        results: dict[str, Result | None] = {name: median_round(found) for name, found in rounds.items()}
        for name in servers:
            results.setdefault(name, None)
        for name, server in servers.items():
            if server and name != "gateway":
                server[0].stop()
        extra["heavy"] = heavy(
            uri, forest, gateway_base["url"], args.heavy_rounds, args.duration, args.connections
        )
        log(f"{args.reloads} reloads under load")
        gateway = servers["gateway"]
        extra["reloads"] = reloads_under_load(
            gateway[0], gateway_base["url"], uri, (v1, v2), key, args.reloads, args.connections
        )
    finally:
        for server in servers.values():
            if server:
                server[0].stop()
        tracking.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(args, results, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
