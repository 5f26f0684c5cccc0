"""The MLOps control API (`python -m control`): training jobs, deployments, their status as Server-Sent
Events and signed callbacks, for backends. It imports nothing from serving, dags, trainer or ops: it
drives Airflow's REST API (through the standalone `airflow_rest` client), MLflow's REST API and the
gateway's admin API over HTTP."""
