"""Canary progression run by the gateway: abort on a failing variant, walk to promotion, rollback."""

from __future__ import annotations

import threading

import httpx

from tests.integration.serving.conftest import MODEL
from tests.integration.serving.support import Traffic, iris_body, wait_for


def _canary_config(champion: str, challenger: str, **canary) -> dict:
    return {
        "models": [
            {
                "name": "iris",
                "registered_model": MODEL,
                "strategy": "canary",
                "variants": [
                    {"name": "champion", "alias": champion, "weight": 90},
                    {"name": "challenger", "alias": challenger, "weight": 10},
                ],
                "canary": canary,
            }
        ]
    }


class EventReader:
    """Collects Server-Sent Events of a gateway in a thread."""

    def __init__(self, url: str) -> None:
        self.events: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        try:
            with httpx.stream("GET", f"{url}/v1/events", timeout=None) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
        except httpx.HTTPError:
            return


def test_canary_aborts_on_a_failing_variant_and_the_state_survives_a_restart(
    versions, gateways, slack_sink, tmp_path
):
    versions.set_alias("t-abort-champion", versions.v_a)
    versions.set_alias("t-abort-challenger", versions.faulty)
    config = _canary_config(
        "t-abort-champion",
        "t-abort-challenger",
        steps=[20, 50, 100],
        interval_seconds=3600,
        gates={"min_requests": 5, "max_error_rate": 0.1, "window_seconds": 120},
    )
    state = f"sqlite:///{tmp_path / 'state.db'}"
    gateway = gateways(
        config, versions.tracking_uri, state_url=state, slack_url=slack_sink.url, folder=tmp_path / "a"
    )
    gateway.wait_ready()
    events = EventReader(gateway.url)
    mark = slack_sink.mark()
    wait_for(lambda: gateway.status("iris")["canary"]["status"] == "running", 30, what="canary start")

    failed = 0
    for i in range(600):
        answer = gateway.predict("iris", **{"X-Routing-Key": f"user-{i}"})
        if answer.status_code == 500:
            failed += 1
            # the exception's text goes to the log, never to the caller, who gets the request id
            message = answer.json()["message"]
            assert "faulty model" not in message and answer.headers["x-request-id"] in message
        if failed >= 5 and gateway.status("iris")["canary"]["status"] == "aborted":
            break
    status = gateway.status("iris")
    assert status["canary"]["status"] == "aborted", status["canary"]
    assert "error rate" in status["canary"]["reason"]
    assert status["weights"] == {"champion": 100, "challenger": 0}
    assert all(
        gateway.predict("iris", **{"X-Routing-Key": f"user-{i}"}).status_code == 200 for i in range(30)
    )

    wait_for(
        lambda: any("Canary aborted" in m.get("text", "") for m in slack_sink.messages_since(mark)),
        15,
        what="Slack canary abort message",
    )
    wait_for(lambda: "canary_abort" in events.events, 15, what="canary_abort event")

    gateway.stop()
    restarted = gateways(config, versions.tracking_uri, state_url=state, folder=tmp_path / "b")
    restarted.wait_ready()
    after = restarted.status("iris")
    assert after["canary"]["status"] == "aborted"
    assert after["canary"]["reason"] == status["canary"]["reason"]
    assert after["weights"] == {"champion": 100, "challenger": 0}
    assert restarted.predict("iris", **{"X-Routing-Key": "user-1"}).headers["x-model-variant"] == "champion"


def test_canary_walks_its_steps_promotes_and_rolls_back(versions, gateways, slack_sink):
    versions.set_alias("t-walk-champion", versions.v_a)
    versions.set_alias("t-walk-challenger", versions.v_b)
    config = _canary_config(
        "t-walk-champion",
        "t-walk-challenger",
        steps=[50, 100],
        interval_seconds=1,
        gates={"min_requests": 3, "max_error_rate": 0.5, "max_p99_ms": 5000, "window_seconds": 30},
    )
    gateway = gateways(config, versions.tracking_uri, slack_url=slack_sink.url)
    gateway.wait_ready()
    mark = slack_sink.mark()
    with Traffic(gateway, "iris", threads=2, keyed=True) as traffic:
        wait_for(
            lambda: gateway.status("iris")["canary"]["status"] == "promoted", 90, what="canary promotion"
        )
    assert traffic.failures == []
    assert versions.alias("t-walk-champion") == versions.v_b
    wait_for(lambda: gateway.status("iris")["aliases"]["t-walk-champion"] == versions.v_b, 30, what="reload")
    wait_for(
        lambda: any("Promoted" in m.get("text", "") for m in slack_sink.messages_since(mark)),
        15,
        what="Slack promotion message",
    )

    answer = gateway.client.post("/v1/models/iris/rollback", headers=gateway.admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["to_version"] == versions.v_a
    assert versions.alias("t-walk-champion") == versions.v_a
    status = gateway.status("iris")
    assert status["aliases"]["t-walk-champion"] == versions.v_a
    assert status["canary"]["status"] == "rolled_back"
    assert status["weights"] == {"champion": 100, "challenger": 0}
    wait_for(
        lambda: any("Rolled back" in m.get("text", "") for m in slack_sink.messages_since(mark)),
        15,
        what="Slack rollback message",
    )
    response = gateway.client.post("/v1/models/iris/predict", json=iris_body())
    assert response.headers["x-model-version"] == versions.v_a
