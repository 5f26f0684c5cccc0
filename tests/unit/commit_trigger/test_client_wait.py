"""Following a run survives Airflow's API server restarting (a `make up` after it was killed), and a
longer outage ends with one line, in the client and in `make demo`."""

import httpx
import pytest

from airflow_rest import AirflowClient, AirflowUnreachable
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
