-- The completed dlt loads no finished run has processed yet (macros/batch/batch.sql, batch_loads),
-- as a view: what the next dbt run will take, for anyone who must know before it runs (the raw
-- data-quality checks, expectations/checks/batch.py). int_batch__loads fixes it for this run.
{{ config(materialized='view', tags=['hourly_batch']) }}

{{ batch_loads() }}
