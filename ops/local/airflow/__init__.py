"""The local Airflow 3 of the stack: AIRFLOW_HOME under the state folder (SQLite embedded, PostgreSQL
in the full stack), users and keys generated once, and its components as stack services."""

from ops.local.airflow.home import ADMIN_USER, API_USER, AirflowHome, logins
from ops.local.airflow.services import NAMES, airflow_services

__all__ = ["ADMIN_USER", "API_USER", "NAMES", "AirflowHome", "airflow_services", "logins"]
