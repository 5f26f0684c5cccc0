"""The gateway fleet on the full stack's PostgreSQL: three processes under load through one canary,
kill -9 of the leader mid-canary and mid-promotion, a restart, a scale-up from one to three,
a concurrent promote and reload, MLflow down for 10 s and the store down for 10 s.

Zero failed requests (no documented 503 applies: something is always loaded), the invariants of the
rollout controller after each phase, and the audit log telling the story. The figures are printed
(`pytest -s` shows them): requests, failures, time to a new leader and to convergence after kill -9.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.integration.serving.conftest import MODEL
from tests.integration.serving.support import GatewayProcess, TcpProxy, Traffic, wait_for

pytestmark = pytest.mark.full


class Balancer(Traffic):
    """Client-side load balancer: threads send predict requests round-robin to the replicas in service.

    A replica leaves the rotation before it is killed (as an endpoint leaves a Service when its pod
    stops being Ready); every answer that is not 200 is a failure."""

    def __init__(self, model: str, threads: int = 4) -> None:
        self.members: list[GatewayProcess] = []
        self._turn = 0
        self._members_lock = threading.Lock()
        super().__init__(self._next, model, threads, keyed=True)

    def add(self, gateway: GatewayProcess) -> None:
        with self._members_lock:
            self.members.append(gateway)

    def remove(self, gateway: GatewayProcess) -> None:
        with self._members_lock:
            self.members.remove(gateway)
        time.sleep(0.5)  # requests already sent to it finish

    def _next(self) -> str | None:
        with self._members_lock:
            if not self.members:
                return None
            self._turn += 1
            return self.members[self._turn % len(self.members)].url

    def figures(self) -> dict[str, Any]:
        with self._lock:
            results = list(self.results)
        return {
            "requests": len(results),
            "failures": len(self.failures),
            "answers": dict(Counter(status for status, _ in results)),
            "versions_served": dict(Counter(version for _, version in results)),
        }


class Fleet:
    """Gateway processes of one test, the proxies in front of MLflow and PostgreSQL, the figures."""

    def __init__(self, start: Any, versions: Any, tmp_path: Path, mlflow: TcpProxy, store: TcpProxy) -> None:
        self._start = start
        self.versions = versions
        self.tmp_path = tmp_path
        self.mlflow = mlflow
        self.store = store
        self.run = uuid.uuid4().hex[:6]
        self.model = f"fleet-{self.run}"
        self.champion, self.challenger = f"f-champion-{self.run}", f"f-challenger-{self.run}"
        self.live: list[GatewayProcess] = []
        self.count = 0
        self.figures: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        return {
            "lease_seconds": 3,
            "operation_timeout_seconds": 120,
            "models": [
                {
                    "name": self.model,
                    "registered_model": MODEL,
                    "strategy": "canary",
                    "variants": [
                        {"name": "champion", "alias": self.champion, "weight": 90},
                        {"name": "challenger", "alias": self.challenger, "weight": 10},
                    ],
                    "canary": {  # a canary that stays at its first step: the promotion is the test's
                        "steps": [25, 50, 100],
                        "interval_seconds": 3600,
                        # the challenger is a pyfunc model, slower than the champion's numpy path: this
                        # test is about the fleet, not about latency gates
                        "gates": {
                            "min_requests": 20,
                            "max_error_rate": 0.05,
                            "max_p99_ms": 5000,
                            "max_p99_ratio": 50,
                            "window_seconds": 30,
                        },
                    },
                }
            ],
        }

    def start(self, like: GatewayProcess | None = None) -> GatewayProcess:
        """A new pod, or (`like`) the container of that pod restarted: same name, same volume."""
        self.count += 1
        folder = like.log.parent if like else self.tmp_path / f"replica-{self.count}"
        replica = like.env["SERVING_REPLICA_ID"] if like else f"pod-{self.run}-{self.count}"
        gateway = self._start(
            self.config(),
            f"http://127.0.0.1:{self.mlflow.port}",
            state_url=f"postgresql+psycopg2://mlops:mlops@127.0.0.1:{self.store.port}/serving",
            folder=folder,
            env={"SERVING_REPLICA_ID": replica},
        )
        self.live.append(gateway)
        return gateway

    def status(self) -> dict[str, Any]:
        return self.live[0].status(self.model)

    def leader(self) -> GatewayProcess | None:
        for gateway in self.live:
            status = gateway.status(self.model)
            leader = status["rollout"]["leader"]
            if leader is not None:
                return next((g for g in self.live if g.env["SERVING_REPLICA_ID"] == leader), None)
        return None

    def kill_leader(self, balancer: Balancer, what: str) -> GatewayProcess:
        """kill -9 the leader; time until another replica leads."""
        leader = wait_for(self.leader, 30, what="a leader")
        balancer.remove(leader)
        self.live.remove(leader)
        leader.kill()
        killed = time.monotonic()
        new = wait_for(
            lambda: (g := self.leader()) is not None and g is not leader and g, 60, what="a new leader"
        )
        self.figures[f"new leader after kill -9 {what} (s)"] = round(time.monotonic() - killed, 2)
        return new

    def converged(self) -> bool:
        """Every live replica serves the record's target of every alias, nothing is in flight, and
        MLflow says what the record says."""
        status = self.status()
        if status["rollout"]["operation"] is not None:
            return False
        targets = status["targets"]
        if any(self.versions.alias(alias) != version for alias, version in targets.items()):
            return False
        for gateway in self.live:
            mine = gateway.status(self.model)
            if mine["aliases"] != targets or not mine["ready"]:
                return False
            alive = {r["replica_id"] for r in mine["replicas"] if r["alive"]}
            if not {g.env["SERVING_REPLICA_ID"] for g in self.live} <= alive:
                return False
        return True

    def wait_canary(self, status: str, timeout: float) -> dict[str, Any]:
        """The canary once it reaches `status`; the canary and the audit's tail when it does not."""
        deadline = time.monotonic() + timeout
        canary: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                canary = self.status()["canary"]
            except httpx.HTTPError:
                canary = {}
            if canary.get("status") == status:
                return canary
            time.sleep(0.2)
        tail = [(e["action"], e["ok"], e["detail"]) for e in self.live[0].audit(self.model)[:8]]
        raise AssertionError(
            f"canary not {status} after {timeout:g}s: {canary}; audit (newest first): {tail}"
        )

    def check(self) -> dict[str, Any]:
        """The controller's invariants, once converged."""
        wait_for(self.converged, 120, what="the fleet converged")
        status = self.status()
        assert sum(status["weights"].values()) == 100
        audit = self.live[0].audit(self.model)
        rollouts = [e["detail"]["rollout"] for e in audit if e["action"] == "canary_start"]
        assert len(rollouts) == len(set(rollouts)), f"a canary started twice: {rollouts}"
        moves = status["rollout"]["moves"]
        for alias, version in status["targets"].items():
            mine = [m for m in moves if m["alias"] == alias]
            if mine:  # a rollback goes to the version served before the last move
                assert (
                    mine[-1]["to_version"] == version
                    and status["previous"][alias] == mine[-1]["from_version"]
                )
        return status


@pytest.fixture
def fleet(versions, gateways, full_stack, mlflow_stack, tmp_path):
    mlflow = TcpProxy(urlparse(mlflow_stack.tracking_uri).port).start()
    store = TcpProxy(full_stack.settings.postgres_port).start()
    yield Fleet(gateways, versions, tmp_path, mlflow, store)
    mlflow.stop()
    store.stop()


def _restart(proxy: TcpProxy) -> TcpProxy:
    again = TcpProxy(proxy.upstream_port)
    again.port = proxy.port
    return again.start()


def test_a_fleet_of_three_holds_through_kills_restarts_and_outages(fleet, versions, misfits, capsys):
    versions.set_alias(fleet.champion, versions.v_a)
    versions.set_alias(fleet.challenger, versions.v_a)
    started = time.monotonic()
    first = fleet.start()
    first.wait_ready()
    with Balancer(fleet.model) as balancer:
        balancer.add(first)

        # scale 1 → 3 mid-canary: the canary of a slow-loading version starts once
        versions.set_alias(fleet.challenger, misfits.slow_load)
        assert first.reload(fleet.challenger, fleet.model).status_code == 200
        for _ in range(2):
            gateway = fleet.start()
            gateway.wait_ready()
            balancer.add(gateway)
        canary = fleet.status()["canary"]
        assert (canary["status"], canary["version"]) == ("running", misfits.slow_load), canary["reason"]

        # kill -9 the leader mid-canary, restart a replica in its place
        fleet.kill_leader(balancer, "mid-canary")
        killed = time.monotonic()
        replacement = fleet.start()
        replacement.wait_ready()
        balancer.add(replacement)
        wait_for(fleet.converged, 120, what="converged after kill -9")
        fleet.figures["converged after kill -9 mid-canary (s)"] = round(time.monotonic() - killed, 2)

        canary = fleet.status()["canary"]
        assert (canary["status"], canary["rollout"]) == ("running", 1), canary  # the new leader went on

        # kill -9 the leader mid-promotion: the champion slot loads the slow version (~5 s per replica)
        leader = wait_for(fleet.leader, 30, what="a leader")
        caller = next(g for g in fleet.live if g is not leader)
        promoted: dict[str, Any] = {}

        def promote() -> None:
            answer = caller.client.post(
                f"/v1/models/{fleet.model}/promote", headers=caller.admin, timeout=300
            )
            promoted.update(status=answer.status_code, body=answer.json())

        thread = threading.Thread(target=promote)
        thread.start()
        wait_for(lambda: fleet.status()["rollout"]["operation"], 60, what="the promotion in flight")
        fleet.kill_leader(balancer, "mid-promotion")
        killed = time.monotonic()
        thread.join(timeout=300)
        fleet.figures["promotion finished after kill -9 (s)"] = round(time.monotonic() - killed, 2)
        replacement = fleet.start()  # back to three
        replacement.wait_ready()
        balancer.add(replacement)
        assert promoted["status"] == 200 and promoted["body"]["result"] == "done", promoted
        assert fleet.wait_canary("promoted", 30)["version"] == misfits.slow_load
        status = fleet.check()
        assert versions.alias(fleet.champion) == misfits.slow_load
        assert status["rollout"]["last_operation"]["result"] == "done"

        # concurrent promote and reload on two replicas
        versions.set_alias(fleet.challenger, versions.v_b)
        one, two = fleet.live[0], fleet.live[1]
        answers: dict[str, int] = {}

        def call(name: str, fn: Any) -> None:
            answers[name] = fn().status_code

        threads = [
            threading.Thread(target=call, args=("reload", lambda: one.reload(fleet.challenger, fleet.model))),
            threading.Thread(
                target=call,
                args=(
                    "promote",
                    lambda: two.client.post(f"/v1/models/{fleet.model}/promote", headers=two.admin),
                ),
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers["reload"] == 200 and answers["promote"] in (200, 409), answers
        fleet.check()

        # MLflow down for 10 s: serving goes on, reloads answer 503, readiness holds
        fleet.mlflow.stop()
        down = time.monotonic()
        refused = one.reload(fleet.challenger, fleet.model)
        assert refused.status_code == 503 and "MLflow" in refused.json()["message"]
        while time.monotonic() - down < 10:
            assert all(g.client.get("/readyz").status_code == 200 for g in fleet.live)
            time.sleep(1)
        fleet.mlflow = _restart(fleet.mlflow)
        assert one.reload(fleet.challenger, fleet.model).status_code == 200

        # the store down for 10 s: serving goes on from the last known state (degraded, still Ready),
        # admin changes answer 503, a replica restarted meanwhile starts from its cached state
        fleet.store.stop()
        down = time.monotonic()
        wait_for(lambda: one.client.get("/readyz").json()["degraded"], 30, what="degraded")
        assert one.client.put(
            f"/v1/models/{fleet.model}/traffic", json={"weights": {"champion": 50, "challenger": 50}},
            headers=one.admin,
        ).status_code == 503  # fmt: skip
        restarted = fleet.live[-1]
        balancer.remove(restarted)
        fleet.live.remove(restarted)
        restarted.kill()
        back = fleet.start(like=restarted)  # the container restarts in its pod: same name, same volume
        back.wait_ready()
        assert back.client.get("/readyz").json()["degraded"] is True
        balancer.add(back)
        while time.monotonic() - down < 10:
            time.sleep(0.5)
        fleet.store = _restart(fleet.store)
        wait_for(lambda: not any(g.client.get("/readyz").json()["degraded"] for g in fleet.live), 60)
        final = fleet.check()

    audit = fleet.live[0].audit(fleet.model)
    actions = [e["action"] for e in reversed(audit)]
    for expected in ("canary_start", "reload", "promote", "promotion"):
        assert expected in actions, actions
    refused = {(e["action"], e["ok"]) for e in audit if not e["ok"]}
    # the reload refused while MLflow was down; the traffic change refused while the store was down
    # (its audit entry waited for the store)
    assert {("reload", False), ("traffic", False)} <= refused, refused
    assert balancer.failures == [], balancer.failures[:10]
    fleet.figures.update(
        **balancer.figures(),
        replicas=len(fleet.live),
        seconds=round(time.monotonic() - started, 1),
        final_targets=final["targets"],
    )
    with capsys.disabled():
        print("\nfleet test figures:")
        for key, value in fleet.figures.items():
            print(f"  {key}: {value}")
        print("  audit log:")
        for entry in reversed(audit):
            detail = {
                k: v
                for k, v in (entry["detail"] or {}).items()
                if k
                in ("alias", "version", "from_version", "to_version", "step", "weight", "reason", "error")
            }
            print(f"    {entry['action']:<16} ok={entry['ok']!s:<5} {entry['actor'] or '':<22} {detail}")
