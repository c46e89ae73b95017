-- One row per page or screen view, with its load time and the viewer's plan at the time.
-- Incremental by person, from each batch person's rebuild_from_at on.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='viewed_at',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}

select
    views.message_id as page_view_id,
    views.session_id,
    views.stitched_user_id,
    views.event_at as viewed_at,
    views.event_name as page_name,
    views.page_path,
    views.page_load_ms,
    views.device_type,
    views.os,
    views.browser,
    views.country,
    plans.plan
from {{ ref('fct_events') }} as views
{{ join_plan_at('plans', 'views.stitched_user_id', 'views.event_at') }}
where views.event_type in ('page', 'screen')
    and not coalesce(views.is_bot, false)
{{ only_batch_persons(column='views.stitched_user_id', keyword='and', time_column='views.event_at') }}
{%- if not is_incremental() %}
order by views.event_at, views.message_id
{%- endif %}
