"""Airflow DAG example: run sfsync's nightly job once a day, one run at a time.

Connections and secrets come from the worker's environment (SFSYNC_* variables), e.g. through
an Airflow Variable-backed secrets backend. Exit code 3 (some records failed; they are retried on
the next run) is treated as success with a warning; 4 (another run holds the lock) as a skip.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="sfsync_nightly",
    schedule="15 2 * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=15)},
    tags=["customer-success", "salesforce"],
) as dag:
    BashOperator(
        task_id="sfsync_run_nightly",
        bash_command=(
            "cd /opt/sfsync && "
            "sfsync --log-format json run nightly --as-of {{ data_interval_end | ds }}; "
            "rc=$?; if [ $rc -eq 3 ]; then echo 'finished with row failures'; exit 0; fi; "
            "if [ $rc -eq 4 ]; then exit 99; fi; exit $rc"
        ),
        skip_on_exit_code=99,
    )
