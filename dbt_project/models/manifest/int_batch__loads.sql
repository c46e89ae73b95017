-- The dlt loads this run processes (macros/batch/batch.sql, batch_loads).
{{ config(tags=['hourly_batch']) }}

{{ batch_loads() }}
