"""Shadow row agreement, the shadow queue's drop counting, and Slack Block Kit messages."""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from serving.metrics import Metrics
from serving.runtime import VariantRuntime
from serving.shadow import ShadowRunner, agreeing_rows
from serving.slack import Slack, blocks


def test_agreement_counts_equal_rows():
    assert agreeing_rows([0, 1, 2, 2], [0, 1, 1, 2]) == (4, 3)
    assert agreeing_rows(np.array([0.5, 1.0]), np.array([0.5 + 1e-12, 2.0])) == (2, 1)
    assert agreeing_rows(np.array([[1, 2], [3, 4]]), np.array([[1, 2], [3, 5]])) == (2, 1)
    assert agreeing_rows([1, 2, 3], [1, 2]) == (3, 0)
    assert agreeing_rows(["setosa", "virginica"], ["setosa", "setosa"]) == (2, 1)


class _Blocking:
    """A loaded-model stand-in whose predict waits until released (fills the queue deterministically)."""

    version = "1"

    def __init__(self) -> None:
        self.release = threading.Event()

    def prepare(self, request):
        return request

    def predict(self, data):
        self.release.wait(10)
        return np.asarray(data)


def test_a_full_shadow_queue_drops_copies_and_counts_them():
    metrics = Metrics()
    variant = VariantRuntime("m", "copy", "challenger", True, metrics)
    model = _Blocking()
    variant.model = model  # type: ignore[assignment]
    runner = ShadowRunner("m", [variant], metrics, size=2)
    try:
        for _ in range(6):
            runner.submit([1, 2], np.array([1, 2]), 0.001)
        model.release.set()
        runner.join()
        stats = runner.stats["copy"]
        assert stats.dropped >= 3 and stats.compared + stats.dropped == 6
        assert stats.as_dict()["agreement"] == 1.0
    finally:
        model.release.set()
        runner.stop()


def test_slack_messages_are_block_kit_and_an_outage_is_harmless():
    message = blocks(
        "promotion", "Promoted iris version 3 to champion", {"model": "iris", "versions": "2 → 3"}
    )
    assert message["text"].endswith("Promoted iris version 3 to champion")
    assert message["blocks"][0]["type"] == "header"
    assert {"type": "mrkdwn", "text": "*versions*\n2 → 3"} in message["blocks"][1]["fields"]

    async def post_to_nowhere() -> None:
        slack = Slack("http://127.0.0.1:9/nothing-listens", timeout=2)
        slack.notify("rollback", "Rolled back", model="iris")
        await slack.drain()

    asyncio.run(post_to_nowhere())
