"""Result JSON: written where the orchestrator reads it (the KubernetesPodOperator XCom contract)."""

import json
from pathlib import Path
from typing import Any

from trainer.settings import TrainerSettings


def result_path(settings: TrainerSettings, explicit: str | None) -> Path | None:
    """--result-file, else TRAINER_RESULT_FILE, else /airflow/xcom/return.json when that folder exists."""
    if explicit:
        return Path(explicit)
    if settings.result_file:
        return Path(settings.result_file)
    xcom_dir = Path(settings.xcom_dir)
    if xcom_dir.is_dir():
        return xcom_dir / "return.json"
    return None


def write_result(result: dict[str, Any], path: Path | None) -> str:
    """Write the result JSON (atomically) when a path is known; return the JSON text."""
    text = json.dumps(result, sort_keys=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return text
