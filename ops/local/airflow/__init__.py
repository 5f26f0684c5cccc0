"""Local Airflow for the embedded stack: AIRFLOW_HOME with SQLite under the stack's state folder, the
connections the DAGs use pointed at the stack, and a runner of DAG runs with `dag.test()`."""

from ops.local.airflow.home import AirflowHome

__all__ = ["AirflowHome"]
