-- The dlt loads this run processes: completed (status 0 in raw._dlt_loads; a load that failed
-- half-way is not there until dlt finishes it) and not yet recorded in ops.processed_loads by a
-- run that finished. See macros/batch/batch.sql.
{{ config(tags=['hourly_batch']) }}

select loads.load_id, loads.inserted_at
from {{ source('dlt', '_dlt_loads') }} as loads
where loads.status = 0
    and loads.load_id not in (select load_id from {{ source('ops', 'processed_loads') }})
