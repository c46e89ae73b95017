-- One row per page or screen view, with its load time. Incremental by person.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_batch_persons() }}",
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__persons') }}
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
    country
from {{ ref('fct_events') }}
where event_type in ('page', 'screen')
{%- if is_incremental() %}
    and {{ in_batch_persons('stitched_user_id') }}
{%- endif %}
