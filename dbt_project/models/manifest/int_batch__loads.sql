-- The dlt loads this run processes: the unprocessed loads as the run started (a table, so that
-- the batch stays the same from the first model to the on-run-end that records it).
{{ config(tags=['hourly_batch']) }}

select load_id, inserted_at from {{ ref('int_batch__unprocessed_loads') }}
