"""The full stack's gateway config: one canary model that the local alerting test breaks."""

from pathlib import Path

import yaml

ALERT_MODEL = "alerts-iris"
CHAMPION_ALIAS = "alerts-champion"
CHALLENGER_ALIAS = "alerts-challenger"


def write_serving_config(folder: Path) -> Path:
    """A serving config with ALERT_MODEL under a canary whose gates abort on a 10% error rate after five
    requests (its steps wait an hour: only an abort moves it), aliases re-read every two seconds."""
    variants = [
        {"name": "champion", "alias": CHAMPION_ALIAS, "weight": 80},
        {"name": "challenger", "alias": CHALLENGER_ALIAS, "weight": 20},
    ]
    canary = {
        "variant": "challenger",
        "steps": [20, 50, 100],
        "interval_seconds": 3600,
        "gates": {"min_requests": 5, "max_error_rate": 0.1, "window_seconds": 120},
    }
    config = {
        "resolve_interval_seconds": 2,
        "retry_interval_seconds": 0.5,
        "models": [
            {
                "name": ALERT_MODEL,
                "registered_model": ALERT_MODEL,
                "strategy": "canary",
                "variants": variants,
                "canary": canary,
            }
        ],
        "default_model": ALERT_MODEL,
    }
    path = folder / "serving.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
