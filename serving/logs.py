"""loguru setup: JSON lines to stdout, optional rotated file sink in LOG_DIR, stdlib logging routed in.

The file name carries the replica id, so replicas sharing one log volume never write the same file.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import orjson
from loguru import logger

from serving import access


class _Intercept(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def _to_json(record: Any) -> None:
    line: dict[str, Any] = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
        **{k: v for k, v in record["extra"].items() if v is not None and k != "json"},
    }
    if record["exception"] is not None:
        line["exception"] = "".join(traceback.format_exception(*record["exception"]))[-4000:]
    record["extra"]["json"] = orjson.dumps(line, default=str).decode()


def _format(_record: Any) -> str:
    return "{extra[json]}\n"


def setup(level: str = "INFO", log_dir: str | None = None, replica: str | None = None) -> None:
    """Configure loguru once for the process: one JSON object per line."""
    logger.remove()
    logger.configure(extra={"replica": replica}, patcher=_to_json)
    logger.add(sys.stdout, level=level, format=_format)
    # access lines straight to stdout (the hot path), unless a file sink must get them too
    access.write_directly(None if log_dir else sys.stdout, replica, logger.level(level.upper()).no)
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        logger.add(
            Path(log_dir) / f"serving-{replica or 'gateway'}-{{time:YYYY-MM-DD}}.jsonl",
            level=level,
            format=_format,
            rotation="100 MB",
            retention="14 days",
            compression="gz",
            enqueue=True,
        )
    logging.basicConfig(handlers=[_Intercept()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "mlflow"):
        logging.getLogger(name).handlers = [_Intercept()]
        logging.getLogger(name).propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
