"""Following a run survives Airflow's API server restarting (a `make up` after it was killed), a trigger
answered with a server error is looked up and retried (its run id makes that safe), and a
longer outage ends with one line, in the client and in `make demo`."""

import httpx
import pytest

from airflow_rest import AirflowAPIError, AirflowClient, AirflowUnreachable
from ops.local import demo
from tests.support.fake_airflow import FakeAirflow

DAG = "ml_train_register_and_reload"


class Outage:
    """Airflow behind a connection that is refused for the next `calls` requests."""

    def __init__(self, fake: FakeAirflow) -> None:
        self.fake = fake
        self.calls = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.calls > 0:
            self.calls -= 1
            if self.calls == 0:
                self.fake.runs[(DAG, "r1")]["state"] = "success"  # the run ended meanwhile
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.fake.handle(request)

    def client(self) -> AirflowClient:
        transport = httpx.MockTransport(self.handle)
        return AirflowClient("http://airflow.test", "ci", "secret", transport=transport)


def test_wait_outlasts_a_short_outage(fake: FakeAirflow) -> None:
    outage = Outage(fake)
    client = outage.client()
    client.trigger(DAG, "r1", {})
    outage.calls = 5
    run = client.wait(DAG, "r1", interval=0.01, unreachable_grace=30, on_task=lambda _ti: None)
    assert run.state == "success" and outage.calls == 0


def test_a_longer_outage_raises_unreachable(fake: FakeAirflow) -> None:
    outage = Outage(fake)
    client = outage.client()
    client.trigger(DAG, "r1", {})
    outage.calls = 10**9
    with pytest.raises(AirflowUnreachable, match="did not answer GET /api/v2/dags/"):
        client.wait(DAG, "r1", interval=0.01, unreachable_grace=0.2)


def test_demo_ends_with_one_line_when_airflow_stops_answering(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable() -> int:
        raise AirflowUnreachable("Airflow at http://127.0.0.1:1 did not answer GET /api/v2/dags: refused")

    monkeypatch.setattr(demo, "run_demo", unreachable)
    assert demo.main() == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Airflow at http://127.0.0.1:1 did not answer") and "Traceback" not in err
    assert "make up" in err


class BusyDatabase:
    """Airflow answering the next POSTs of a run with 500 (SQLite busy while other clients insert the
    same run id); `winner` creates the run meanwhile, as a concurrent trigger would."""

    def __init__(self, fake: FakeAirflow, failures: int, winner: bool) -> None:
        self.fake, self.failures, self.winner = fake, failures, winner

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/dagRuns") and self.failures > 0:
            self.failures -= 1
            if self.winner:
                self.fake.handle(request)  # the other client's insert
            return httpx.Response(500, json={"reason": "Database error", "message": "database is locked"})
        return self.fake.handle(request)

    def client(self) -> AirflowClient:
        transport = httpx.MockTransport(self.handle)
        return AirflowClient("http://airflow.test", "ci", "secret", transport=transport)


def test_a_server_error_on_trigger_finds_the_run_another_client_created(fake: FakeAirflow) -> None:
    triggered = BusyDatabase(fake, failures=1, winner=True).client().trigger(DAG, "r1", {}, backoff=0)
    assert triggered.created is False and fake.created() == ["r1"]


def test_a_server_error_on_trigger_is_retried(fake: FakeAirflow) -> None:
    triggered = BusyDatabase(fake, failures=2, winner=False).client().trigger(DAG, "r1", {}, backoff=0)
    assert triggered.created is True and fake.created() == ["r1"]
    busy = BusyDatabase(fake, failures=5, winner=False).client()
    with pytest.raises(AirflowAPIError, match="answered 500"):
        busy.trigger(DAG, "r2", {}, backoff=0)
    assert "r2" not in fake.created()
