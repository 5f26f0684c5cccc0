"""A hypothesis state machine over two control replicas on one database: backends create jobs (with and
without Idempotency-Keys), Airflow moves runs along or goes down, the receiver goes down or fails, the
lease expires, replicas crash (kill -9: no clean release) and restart. After every step: no job is
lost or duplicated, a job's states only move forward with one terminal event, every event that calls
for a callback has one delivery, no callback arrives twice or unsigned; at the end, with everything
back, every callback has arrived exactly once."""

import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from control.jobs import TrainingJobRequest
from control.jobstate import ORDER, TERMINAL
from control.plane import ControlPlane
from control.signing import SIGNATURE_HEADER, verify
from control.store import deliveries as delivery_rows
from control.store import events as event_log
from control.store import jobs as job_rows
from tests.support.fake_airflow import FakeAirflow
from tests.unit.control.conftest import CONFIGS, DAG, RECEIVER, SECRET, TRAINED, Receiver, control_settings

CONFIG = json.loads((CONFIGS / "iris.json").read_text())
ENDINGS = ("succeed", "fail", "rollback", "gate")


class ControlMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="control-stateful-"))
        self.airflow = FakeAirflow()
        self.receiver = Receiver()
        self.planes: dict[str, ControlPlane] = {}
        self.generation = 0
        for name in ("a", "b"):
            self.planes[name] = self._plane(name)
        self.keys: dict[str, str] = {}
        self.phase: dict[str, str] = {}  # run id → started | ended

    def _plane(self, name: str) -> ControlPlane:
        self.generation += 1
        s = control_settings(self.folder, replica_id=f"{name}-{self.generation}", callback_events="terminal")
        plane = ControlPlane(s, self.airflow.transport(), httpx.MockTransport(self.receiver.handle))
        plane.start(background=False)
        return plane

    def teardown(self) -> None:
        try:
            if hasattr(self, "planes"):
                self.check_everything_arrives_once_things_recover()
        finally:
            self.close()

    def close(self) -> None:
        for plane in getattr(self, "planes", {}).values():
            plane.stop()
        shutil.rmtree(getattr(self, "folder", "/nonexistent"), ignore_errors=True)

    # -- backends ---------------------------------------------------------------------------------
    @rule(
        replica=st.sampled_from("ab"),
        key=st.sampled_from([None, "k1", "k2"]),
        alias=st.sampled_from(["challenger", "champion"]),
        events=st.sampled_from(["terminal", "all"]),
        trigger=st.booleans(),
    )
    def create(self, replica: str, key: str | None, alias: str, events: str, trigger: bool) -> None:
        plane = self.planes[replica]
        request = TrainingJobRequest(
            config=CONFIG, alias=alias, callback_url=RECEIVER, callback_events=events
        )
        try:
            job, created = plane.jobs.create(request, key, "backend")
        except Exception as error:  # same key, other body: 409
            assert key is not None and type(error).__name__ == "Conflict"
            return
        if key is not None:
            assert self.keys.setdefault(key, job["id"]) == job["id"]
        if trigger and created:
            plane.trigger_now(job["id"])

    # -- Airflow ----------------------------------------------------------------------------------
    def _runs(self, phase: str | None) -> list[str]:
        return sorted(r for (_, r) in self.airflow.runs if self.phase.get(r) == phase)

    @precondition(lambda self: self._runs(None))
    @rule(data=st.data())
    def run_starts(self, data: st.DataObject) -> None:
        run = data.draw(st.sampled_from(self._runs(None)))
        self.airflow.set_run(DAG, run, "running")
        self.airflow.set_task(DAG, run, "validate_conf", "running")
        self.phase[run] = "started"

    @precondition(lambda self: self._runs("started"))
    @rule(data=st.data(), ending=st.sampled_from(ENDINGS))
    def run_ends(self, data: st.DataObject, ending: str) -> None:
        run = data.draw(st.sampled_from(self._runs("started")))
        set_task = self.airflow.set_task
        set_task(DAG, run, "validate_conf", "success")
        set_task(DAG, run, "train", "success", return_value=TRAINED)
        if ending == "succeed":
            set_task(DAG, run, "register", "success", return_value={"version": "3"})
            set_task(DAG, run, "summary", "success", return_value={"version": "3"})
        elif ending == "gate":
            set_task(DAG, run, "quality_gate", "success")
            set_task(DAG, run, "register", "skipped")
        elif ending == "rollback":
            set_task(DAG, run, "verify", "failed")
            set_task(DAG, run, "trigger_rollback_model", "success", trigger_run_id="rb")
        else:
            set_task(DAG, run, "reload", "failed")
        self.airflow.set_run(DAG, run, "failed" if ending in ("fail", "rollback") else "success")
        self.phase[run] = "ended"

    @rule(down=st.booleans())
    def airflow_availability(self, down: bool) -> None:
        self.airflow.down = down

    @rule(state=st.sampled_from(["up", "down", "500"]))
    def receiver_availability(self, state: str) -> None:
        self.receiver.down = state == "down"
        self.receiver.status = 500 if state == "500" else 200

    # -- replicas ---------------------------------------------------------------------------------
    @rule(replica=st.sampled_from("ab"))
    def tick(self, replica: str) -> None:
        self.planes[replica].leadership.tick()

    @rule(replica=st.sampled_from("ab"))
    def follow(self, replica: str) -> None:
        self.planes[replica].follow_step()

    @rule(replica=st.sampled_from("ab"))
    def deliver(self, replica: str) -> None:
        time.sleep(0.003)  # past the harness's back-off
        self.planes[replica].deliver_step()

    @rule()
    def lease_expires(self) -> None:
        with self.planes["a"].db.write() as conn:
            conn.exec_driver_sql("UPDATE control_leases SET expires_at = 0")

    @rule(replica=st.sampled_from("ab"))
    def crash_and_restart(self, replica: str) -> None:
        old = self.planes[replica]
        old.dispatcher.close()  # kill -9: no lease release, nothing flushed beyond what was committed
        old.airflow.close()
        old.db.close()
        self.planes[replica] = self._plane(replica)

    # -- invariants -------------------------------------------------------------------------------
    def _snapshot(self) -> tuple[list[Any], list[event_log.Event], list[Any]]:
        with self.planes["a"].db.read() as conn:
            jobs = list(conn.execute(job_rows.jobs.select()).mappings())
            events = event_log.after(conn, 0, limit=100_000)
            deliveries = list(conn.execute(delivery_rows.deliveries.select()).mappings())
        return jobs, events, deliveries

    @invariant()
    def consistent(self) -> None:
        if not hasattr(self, "planes"):
            return
        jobs, events, deliveries = self._snapshot()
        assert [e.id for e in events] == sorted({e.id for e in events})
        runs = [r for (_, r) in self.airflow.runs]
        assert all(r.startswith("control-") for r in runs) and len(runs) <= len(jobs)
        by_event = {d["event_id"]: d for d in deliveries}
        assert len(by_event) == len(deliveries)  # one delivery per event
        for job in jobs:
            states = [e.type.removeprefix("training_job.") for e in events if e.job_id == job["id"]]
            states = [s for s in states if s in ORDER]
            assert states[0] == "queued" and states[-1] == job["state"]
            assert all(ORDER[a] < ORDER[b] for a, b in itertools.pairwise(states))
            assert sum(s in TERMINAL for s in states) <= 1
            for e in events:
                if e.job_id == job["id"] and e.type.removeprefix("training_job.") in ORDER:
                    wanted = (
                        e.type.removeprefix("training_job.") in TERMINAL or job["callback_events"] == "all"
                    )
                    assert (e.id in by_event) == wanted, (e.type, job["callback_events"])
        received = [json.loads(r.content)["event_id"] for r in self.receiver.received]
        assert len(received) == len(set(received)), "a callback arrived twice"
        for request in self.receiver.received:
            verify(SECRET.encode(), request.headers[SIGNATURE_HEADER], request.content)

    def check_everything_arrives_once_things_recover(self) -> None:
        self.airflow.down = False
        self.receiver.down, self.receiver.status = False, 200
        plane = self.planes["a"]
        for _ in range(50):
            with plane.db.write() as conn:
                conn.exec_driver_sql("UPDATE control_leases SET expires_at = 0")
            plane.leadership.tick()
            for run in self._runs(None) + self._runs("started"):  # every run ends well
                self.airflow.set_task(DAG, run, "summary", "success", return_value={"version": "3"})
                self.airflow.set_run(DAG, run, "success")
                self.phase[run] = "ended"
            plane.follow_step()
            time.sleep(0.003)
            plane.deliver_step()
            jobs, _events, deliveries = self._snapshot()
            if all(j["state"] in TERMINAL for j in jobs) and all(
                d["state"] == "delivered" for d in deliveries
            ):
                break
        jobs, _events, deliveries = self._snapshot()
        assert all(j["state"] in TERMINAL for j in jobs)
        assert all(d["state"] == "delivered" for d in deliveries)
        received = sorted(json.loads(r.content)["event_id"] for r in self.receiver.received)
        assert received == sorted(d["event_id"] for d in deliveries)

    def run_starts_for(self, run: str) -> None:
        self.airflow.set_run(DAG, run, "running")
        self.phase[run] = "started"


class TestControlMachine(ControlMachine.TestCase):
    settings = settings(
        max_examples=40, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)
    )


def test_recovery_after_a_stormy_run() -> None:
    """One fixed stormy sequence, then recovery: every callback arrives exactly once."""
    machine = ControlMachine()
    try:
        machine.start()
        for key in (None, "k1", "k1", None):
            machine.create("a", key, "challenger", "all", trigger=False)
        machine.airflow_availability(True)
        machine.tick("b")
        machine.follow("b")
        machine.airflow_availability(False)
        machine.follow("b")
        machine.receiver_availability("down")
        for run in machine._runs(None):
            machine.run_starts_for(run)
        machine.follow("b")
        machine.deliver("b")
        machine.crash_and_restart("b")
        machine.lease_expires()
        machine.tick("a")
        machine.consistent()
        machine.check_everything_arrives_once_things_recover()
        machine.consistent()
    finally:
        machine.close()
