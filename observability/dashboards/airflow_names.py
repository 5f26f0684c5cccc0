"""Names of the Airflow metrics the dashboards read, in one place: Airflow's StatsD metrics as the StatsD
exporter names them with the mapping in charts/airflow/values/base.yaml (`statsd.overrideMappings`; the
local stack's exporter, ops/local/airflow/statsd.py, reads the same list). Mapped timers are histograms
in seconds; unmapped names keep their StatsD name with dots as `_`."""

# mapped: dagrun.duration.<state>.<dag_id> (labels state, dag_id)
DAGRUN_DURATION = "airflow_dagrun_duration_seconds"
# mapped: dag.<dag_id>.<task_id>.duration (labels dag_id, task_id)
TASK_DURATION = "airflow_task_duration_seconds"
# mapped: ti.finish.<dag_id>.<task_id>.<state> (counter, labels dag_id, task_id, state)
TI_FINISH = "airflow_ti_finish_total"
# mapped: scheduler_heartbeat (counter)
SCHEDULER_HEARTBEAT = "airflow_scheduler_heartbeat_total"
# mapped: dag_processing.import_errors (gauge)
IMPORT_ERRORS = "airflow_dag_processing_import_errors"
# unmapped: dag_processor_heartbeat (counter), dag_processing.total_parse_time (gauge, seconds)
DAG_PROCESSOR_HEARTBEAT = "airflow_dag_processor_heartbeat"
TOTAL_PARSE_TIME = "airflow_dag_processing_total_parse_time"
# unmapped: executor.running_tasks / executor.queued_tasks / executor.open_slots (gauges)
EXECUTOR_RUNNING = "airflow_executor_running_tasks"
EXECUTOR_QUEUED = "airflow_executor_queued_tasks"
EXECUTOR_OPEN_SLOTS = "airflow_executor_open_slots"
