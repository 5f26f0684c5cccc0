"""Names of the Airflow metrics the dashboards read, in one place: Airflow's StatsD metrics as the
official chart's statsd-exporter mapping (files/statsd-mappings.yml) names them in Prometheus.
Timers become summaries (`_sum`, `_count`), counters and gauges keep the mapped name."""

# dagrun.duration.<state>.<dag_id> (timers; a histogram with labels dag_id, state: success/failed)
DAGRUN_DURATION = "airflow_dagrun_duration_seconds"
# dag.<dag_id>.<task_id>.duration (timer, labels dag_id, task_id)
TASK_DURATION = "airflow_task_duration"
# ti_successes / ti_failures (counters, no labels)
TI_SUCCESSES = "airflow_ti_successes"
TI_FAILURES = "airflow_ti_failures"
# scheduler_heartbeat / dag_processor_heartbeat (counters)
SCHEDULER_HEARTBEAT = "airflow_scheduler_heartbeat"
DAG_PROCESSOR_HEARTBEAT = "airflow_dag_processor_heartbeat"
# dag_processing.total_parse_time (gauge, seconds), dag_processing.import_errors (gauge)
TOTAL_PARSE_TIME = "airflow_dag_processing_total_parse_time"
IMPORT_ERRORS = "airflow_dag_processing_import_errors"
# executor.running_tasks.<executor> / executor.queued_tasks / executor.open_slots (gauges, label executor)
EXECUTOR_RUNNING = "airflow_executor_running_tasks"
EXECUTOR_QUEUED = "airflow_executor_queued_tasks"
EXECUTOR_OPEN_SLOTS = "airflow_executor_open_slots"
