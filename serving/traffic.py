"""Traffic policy: the weights each strategy routes by, taken from the rollout record.

`single`, `ab`, `canary` and `shadow` route by the record's weights; `bluegreen` sends everything to
the record's active slot, so the slot and the traffic can never disagree.
"""

from __future__ import annotations

from serving.config import ModelConfig
from serving.record import RolloutRecord
from serving.runtime import ModelRuntime


def effective_weights(config: ModelConfig, record: RolloutRecord) -> dict[str, int]:
    """Weights of the non-shadow variants that the router uses for this record."""
    names = [v.name for v in config.primary_variants]
    if config.strategy == "bluegreen" and config.bluegreen is not None:
        active = record.active or config.bluegreen.active
        return {name: 100 if name == active else 0 for name in names}
    return {name: int(record.weights.get(name, 0)) for name in names}


def apply(runtime: ModelRuntime, record: RolloutRecord) -> None:
    """Route `runtime`'s requests by `record` from now on."""
    runtime.set_weights(effective_weights(runtime.config, record))
    runtime.metrics.canary_step.labels(runtime.name).set(record.canary.step)
    runtime.metrics.set_phase(runtime.name, record.phase)
