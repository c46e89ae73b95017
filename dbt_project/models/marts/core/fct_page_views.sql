-- One row per page or screen view, with its load time. Incremental by person.
{{ person_incremental() }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}

select
    message_id as page_view_id,
    session_id,
    stitched_user_id,
    event_at as viewed_at,
    event_name as page_name,
    page_path,
    page_load_ms,
    device_type,
    browser,
    country
from {{ ref('fct_events') }}
where event_type in ('page', 'screen')
{{ only_batch_persons(keyword='and') }}
