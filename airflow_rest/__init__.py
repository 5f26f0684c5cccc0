"""A small client of Airflow 3's REST API (`/auth/token`, `/api/v2`): trigger DAG runs with a chosen
run id, read runs and task instances, follow a run to its end. Used by the commit trigger and the local
demo; other services (the control API) can use it too. It needs only httpx."""

from airflow_rest.client import AirflowClient, Triggered
from airflow_rest.errors import AirflowAPIError, AirflowAuthError, AirflowUnreachable
from airflow_rest.models import TERMINAL_RUN_STATES, DagRun, TaskInstance

__all__ = [
    "TERMINAL_RUN_STATES",
    "AirflowAPIError",
    "AirflowAuthError",
    "AirflowClient",
    "AirflowUnreachable",
    "DagRun",
    "TaskInstance",
    "Triggered",
]
