"""loguru: one JSON object per line on stdout, an optional rotated file sink in LOG_DIR, stdlib logging
routed in."""

import json
import logging
import sys
from pathlib import Path
from typing import Any

from loguru import logger


class _Intercept(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def json_line(record: Any) -> str:
    """time, level, logger, message, the bound extras and a short traceback, as one JSON line."""
    line = {
        "time": record["time"].isoformat(),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
        **{key: value for key, value in record["extra"].items() if value is not None},
    }
    if record["exception"] is not None:
        line["exception"] = f"{record['exception'].type.__name__}: {record['exception'].value}"
    return json.dumps(line, default=str)


def _stdout(message: Any) -> None:
    sys.stdout.write(json_line(message.record) + "\n")
    sys.stdout.flush()


def setup(level: str = "INFO", log_dir: str | None = None, replica: str | None = None) -> None:
    """Configure loguru once for the process."""
    logger.remove()
    logger.configure(extra={"replica": replica, "service": "control"})
    logger.add(_stdout, level=level, format="{message}")
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        logger.add(
            Path(log_dir) / "control-{time:YYYY-MM-DD}.jsonl",
            level=level,
            format=lambda record: json_line(record).replace("{", "{{").replace("}", "}}") + "\n",
            rotation="100 MB",
            retention="14 days",
            compression="gz",
            enqueue=True,
        )
    logging.basicConfig(handlers=[_Intercept()], level=logging.INFO, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = [_Intercept()]
        logging.getLogger(name).propagate = False
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
