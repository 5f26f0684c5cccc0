"""loguru: JSON lines to stdout, an optional rotated file sink in LOG_DIR, stdlib logging routed in."""

import logging
import sys
from pathlib import Path

from loguru import logger


class _Intercept(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def setup(level: str = "INFO", log_dir: str | None = None, replica: str | None = None) -> None:
    """Configure loguru once for the process (loguru's JSON: one object per line)."""
    logger.remove()
    logger.configure(extra={"replica": replica, "service": "control"})
    logger.add(sys.stdout, level=level, serialize=True)
    if log_dir:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        logger.add(
            Path(log_dir) / "control-{time:YYYY-MM-DD}.jsonl",
            level=level,
            serialize=True,
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
