-- Each survey response and each ticket, with what that person went through in the
-- experience_window_hours (24) before it: sessions, page loads, errors, how far they got.
-- Rebuilt whole on every run: tickets and responses are few next to events.
{{ config(tags=['hourly_batch']) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}
with

feedback as (

    select
        'survey' as feedback_kind,
        response_id as feedback_id,
        stitched_user_id,
        created_at as feedback_at,
        survey_type,
        score
    from {{ ref('fct_survey_responses') }}

    union all

    select
        'ticket' as feedback_kind,
        cast(ticket_id as {{ dbt.type_string() }}) as feedback_id,
        stitched_user_id,
        created_at as feedback_at,
        cast(null as {{ dbt.type_string() }}) as survey_type,
        cast(null as integer) as score
    from {{ ref('fct_tickets') }}

),

windowed as (

    select
        *,
        {{ dbt.dateadd('hour', -1 * var('experience_window_hours'), 'feedback_at') }} as window_start_at
    from feedback

),

sessions as (

    select
        windowed.feedback_kind,
        windowed.feedback_id,
        count(*) as sessions,
        max(sessions.reached_funnel_step) as furthest_funnel_step,
        max(case when sessions.is_converted then 1 else 0 end) as converted
    from windowed
    inner join {{ ref('fct_sessions') }} as sessions
        on windowed.stitched_user_id = sessions.stitched_user_id
        and sessions.session_end_at >= windowed.window_start_at
        and sessions.session_start_at <= windowed.feedback_at
    group by windowed.feedback_kind, windowed.feedback_id

),

in_window as (

    select
        windowed.feedback_kind,
        windowed.feedback_id,
        events.page_load_ms,
        events.is_error,
        events.device_type,
        events.os,
        events.browser,
        events.country,
        events.event_at,
        events.message_id
    from windowed
    inner join {{ ref('fct_events') }} as events
        on windowed.stitched_user_id = events.stitched_user_id
        and events.event_at >= windowed.window_start_at
        and events.event_at <= windowed.feedback_at

),

-- The segments of a response or ticket are those of the person's latest event before it (in
-- the window), not the person's current ones (dim_users): a ticket from September stays in the
-- segment it was filed from when its requester later switches device, so the KPI hours of
-- past feedback do not change with every later session (and are not recomputed by each batch).
events as (

    select
        feedback_kind,
        feedback_id,
        {{ percentile('page_load_ms', 0.75) }} as p75_page_load_ms,
        max(page_load_ms) as max_page_load_ms,
        sum(case when is_error then 1 else 0 end) as errors,
        {{ latest_of(['device_type', 'os', 'browser', 'country'], ['event_at', 'message_id']) }}
            as latest
    from in_window
    group by feedback_kind, feedback_id

)

select
    windowed.feedback_kind,
    windowed.feedback_id,
    windowed.stitched_user_id,
    windowed.feedback_at,
    windowed.survey_type,
    windowed.score,
    cast(coalesce(sessions.sessions, 0) as {{ dbt.type_bigint() }}) as sessions_before,
    cast(events.p75_page_load_ms as {{ type_double() }}) as p75_page_load_ms_before,
    cast(events.max_page_load_ms as {{ type_double() }}) as max_page_load_ms_before,
    {{ latency_bucket('events.max_page_load_ms') }} as latency_bucket,
    cast(coalesce(events.errors, 0) as {{ dbt.type_bigint() }}) as errors_before,
    coalesce(events.errors, 0) > 0 as had_error,
    cast(coalesce(sessions.furthest_funnel_step, 0) as integer) as furthest_funnel_step_before,
    coalesce(sessions.converted, 0) = 1 as converted_before,
    coalesce(events.latest.device_type, 'unknown') as device_type,
    events.latest.os,
    events.latest.browser,
    events.latest.country
from windowed
left join sessions
    on windowed.feedback_kind = sessions.feedback_kind
    and windowed.feedback_id = sessions.feedback_id
left join events
    on windowed.feedback_kind = events.feedback_kind
    and windowed.feedback_id = events.feedback_id
