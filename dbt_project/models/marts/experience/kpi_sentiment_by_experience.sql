-- NPS, CSAT and ticket rate by the experience that preceded them: the slowest page load in the
-- window (latency bucket), whether an error was hit, and the device.
-- Survey KPIs use each response's 24 h before; the ticket rate uses sessions: the share of
-- sessions, by their own slowest load, errors and device, followed by a ticket within 24 h.
-- Rebuilt whole on every run: it aggregates small tables (see docs/operations.md).
{{ config(tags=['kpi_batch']) }}
with

feedback as (

    select * from {{ ref('fct_feedback_experience') }}

),

survey_kpis as (

    select
        latency_bucket,
        had_error,
        device_type,
        count(case when survey_type = 'nps' then score end) as nps_responses,
        {{ nps("case when survey_type = 'nps' then score end") }} as nps,
        count(case when survey_type = 'csat' then score end) as csat_responses,
        {{ csat("case when survey_type = 'csat' then score end") }} as csat_pct
    from feedback
    where feedback_kind = 'survey'
    group by latency_bucket, had_error, device_type

),

sessions as (

    select
        session_id,
        stitched_user_id,
        session_end_at,
        {{ latency_bucket('max_page_load_ms') }} as latency_bucket,
        errors > 0 as had_error,
        coalesce(device_type, 'unknown') as device_type
    from {{ ref('fct_sessions') }}

),

followed_by_ticket as (

    select distinct sessions.session_id
    from sessions
    inner join {{ ref('fct_tickets') }} as tickets
        on sessions.stitched_user_id = tickets.stitched_user_id
        and tickets.created_at >= sessions.session_end_at
        and tickets.created_at <= {{ dbt.dateadd('hour', var('experience_window_hours'), 'sessions.session_end_at') }}

),

session_kpis as (

    select
        sessions.latency_bucket,
        sessions.had_error,
        sessions.device_type,
        count(*) as sessions,
        count(followed_by_ticket.session_id) as sessions_followed_by_ticket
    from sessions
    left join followed_by_ticket on sessions.session_id = followed_by_ticket.session_id
    group by sessions.latency_bucket, sessions.had_error, sessions.device_type

),

segments as (

    select latency_bucket, had_error, device_type from session_kpis
    union
    select latency_bucket, had_error, device_type from survey_kpis

)

select
    segments.latency_bucket,
    segments.had_error,
    segments.device_type,
    cast(coalesce(session_kpis.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
    cast(coalesce(session_kpis.sessions_followed_by_ticket, 0) as {{ dbt.type_bigint() }})
        as sessions_followed_by_ticket,
    cast({{ pct('session_kpis.sessions_followed_by_ticket', 'session_kpis.sessions') }}
        as {{ type_double() }}) as ticket_rate_pct,
    cast(coalesce(survey_kpis.nps_responses, 0) as {{ dbt.type_bigint() }}) as nps_responses,
    cast(survey_kpis.nps as {{ type_double() }}) as nps,
    cast(coalesce(survey_kpis.csat_responses, 0) as {{ dbt.type_bigint() }}) as csat_responses,
    cast(survey_kpis.csat_pct as {{ type_double() }}) as csat_pct,
    coalesce(survey_kpis.nps_responses, 0) < {{ var('min_sample_size') }} as nps_sample_too_small,
    coalesce(survey_kpis.csat_responses, 0) < {{ var('min_sample_size') }} as csat_sample_too_small
from segments
left join session_kpis
    on segments.latency_bucket = session_kpis.latency_bucket
    and segments.had_error = session_kpis.had_error
    and segments.device_type = session_kpis.device_type
left join survey_kpis
    on segments.latency_bucket = survey_kpis.latency_bucket
    and segments.had_error = survey_kpis.had_error
    and segments.device_type = survey_kpis.device_type
