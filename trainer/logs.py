"""loguru for the trainer: one JSON object per line on stderr, with the Airflow ids of the pod contract.

`run_id`, `dag_id` and `task_id` come from AIRFLOW_DAG_RUN_ID, AIRFLOW_DAG_ID and AIRFLOW_TASK_ID (set by
the DAG for both pod runtimes; Airflow's AIRFLOW_CTX_* names are read too), so Loki finds every line of a
DAG run by its run id. stdout stays for the command's result; the last line of a failure stays the plain
`error: ...` line the CLI prints (the local runtime and people read it).
"""

import json
import logging
import sys
from typing import Any

from loguru import logger

SERVICE = "trainer"


def json_line(record: Any) -> str:
    """time, level, logger, message, the bound ids and the exception (type and text), as one JSON line."""
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


def _stderr(message: Any) -> None:
    sys.stderr.write(json_line(message.record) + "\n")
    sys.stderr.flush()


class _Intercept(logging.Handler):
    """Standard logging (MLflow's) into loguru, so its lines are JSON with the ids too."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def route_stdlib(*names: str) -> None:
    """Send these standard loggers (and the root) to loguru; call after the library configured its own
    handlers (MLflow sets them when it is imported)."""
    logging.basicConfig(handlers=[_Intercept()], level=logging.INFO, force=True)
    for name in names:
        logging.getLogger(name).handlers = [_Intercept()]
        logging.getLogger(name).propagate = False


def setup(level: str = "INFO") -> None:
    """Replace loguru's handlers with the JSON sink (ids are bound later by `bind_ids`)."""
    logger.remove()
    logger.configure(extra={"service": SERVICE})
    logger.add(_stderr, level=level, format="{message}")


def bind_ids(run_id: str | None, dag_id: str | None, task_id: str | None) -> None:
    """Every later line carries these Airflow ids (None: left out of the line)."""
    logger.configure(extra={"service": SERVICE, "run_id": run_id, "dag_id": dag_id, "task_id": task_id})
