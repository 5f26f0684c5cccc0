"""HTTP clients of the services the control API drives: Airflow, MLflow and the serving gateway."""
