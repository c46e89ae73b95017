{#- The time bucket of a timestamp column for a KPI grain: a date for 'day', an hour for 'hour'. -#}
{% macro kpi_bucket(column, grain) -%}
    {%- if grain == 'day' -%}
    cast({{ dbt.date_trunc('day', column) }} as date)
    {%- else -%}
    cast({{ dbt.date_trunc('hour', column) }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- CX KPIs per time bucket ('day' or 'hour') and segment: the body of kpi_daily_by_segment and
    kpi_hourly_by_segment. Device, OS, browser and country are those of the row's time: the
    session's, the page view's, and for a response or ticket the person's latest event before it
    (fct_feedback_experience); plan is the person's plan at the time of the row
    (int_identity__plans), first-touch source the person's. segment_type 'overall' repeats
    the whole bucket. In an incremental run only the batch's changed periods are computed. -#}
{% macro kpis_by_segment(grain) -%}
{%- set segments = {'device': 'device_type', 'os': 'os', 'browser': 'browser',
                    'country': 'country', 'plan': 'plan',
                    'first_touch_source': 'first_touch_source'} -%}
{%- set period_column = 'kpi_date' if grain == 'day' else 'kpi_hour' -%}
with

users as (

    select stitched_user_id, first_touch_source from {{ ref('dim_users') }}

),

sessions as (

    select
        {{ kpi_bucket('sessions.session_start_at', grain) }} as kpi_period,
        sessions.stitched_user_id,
        sessions.is_converted,
        sessions.is_bounce,
        sessions.errors,
        sessions.device_type,
        sessions.os,
        sessions.browser,
        sessions.country,
        sessions.plan,
        users.first_touch_source
    from {{ ref('fct_sessions') }} as sessions
    left join users on sessions.stitched_user_id = users.stitched_user_id
    {%- if is_incremental() %}
    where {{ in_changed_periods(kpi_bucket('sessions.session_start_at', grain), grain, 'sessions.session_start_at') }}
    {%- endif %}

),

page_views as (

    select
        {{ kpi_bucket('views.viewed_at', grain) }} as kpi_period,
        views.page_load_ms,
        views.device_type,
        views.os,
        views.browser,
        views.country,
        views.plan,
        users.first_touch_source
    from {{ ref('fct_page_views') }} as views
    left join users on views.stitched_user_id = users.stitched_user_id
    {%- if is_incremental() %}
    where {{ in_changed_periods(kpi_bucket('views.viewed_at', grain), grain, 'views.viewed_at') }}
    {%- endif %}

),

responses as (

    select
        {{ kpi_bucket('feedback.feedback_at', grain) }} as kpi_period,
        feedback.survey_type,
        feedback.score,
        feedback.device_type,
        feedback.os,
        feedback.browser,
        feedback.country,
        plans.plan,
        users.first_touch_source
    from {{ ref('fct_feedback_experience') }} as feedback
    left join users on feedback.stitched_user_id = users.stitched_user_id
    {{ join_plan_at('plans', 'feedback.stitched_user_id', 'feedback.feedback_at') }}
    where feedback.feedback_kind = 'survey'
    {%- if is_incremental() %}
    and {{ in_changed_periods(kpi_bucket('feedback.feedback_at', grain), grain, 'feedback.feedback_at') }}
    {%- endif %}

),

tickets as (

    select
        {{ kpi_bucket('tickets.created_at', grain) }} as kpi_period,
        tickets.first_reply_minutes,
        tickets.full_resolution_minutes,
        feedback.device_type,
        feedback.os,
        feedback.browser,
        feedback.country,
        plans.plan,
        users.first_touch_source
    from {{ ref('fct_tickets') }} as tickets
    left join {{ ref('fct_feedback_experience') }} as feedback
        on feedback.feedback_kind = 'ticket'
        and feedback.feedback_id = cast(tickets.ticket_id as {{ dbt.type_string() }})
    left join users on tickets.stitched_user_id = users.stitched_user_id
    {{ join_plan_at('plans', 'tickets.stitched_user_id', 'tickets.created_at') }}
    {%- if is_incremental() %}
    where {{ in_changed_periods(kpi_bucket('tickets.created_at', grain), grain, 'tickets.created_at') }}
    {%- endif %}

),

session_kpis as (

    select
        kpi_period, segment_type, segment_value,
        count(*) as sessions,
        count(distinct stitched_user_id) as active_users,
        sum(case when is_converted then 1 else 0 end) as converted_sessions,
        sum(case when is_bounce then 1 else 0 end) as bounced_sessions,
        sum(case when errors > 0 then 1 else 0 end) as sessions_with_errors
    from ({{ unpivot_segments('sessions', segments) }}) as segmented
    group by kpi_period, segment_type, segment_value

),

load_kpis as (

    select
        kpi_period, segment_type, segment_value,
        -- p50, p75, p95 in one aggregate state (see percentiles())
        {{ percentiles('page_load_ms', [0.5, 0.75, 0.95]) }} as page_load_percentiles
    from ({{ unpivot_segments('page_views', segments) }}) as segmented
    group by kpi_period, segment_type, segment_value

),

survey_kpis as (

    select
        kpi_period, segment_type, segment_value,
        count(case when survey_type = 'nps' then score end) as nps_responses,
        {{ nps("case when survey_type = 'nps' then score end") }} as nps,
        count(case when survey_type = 'csat' then score end) as csat_responses,
        {{ csat("case when survey_type = 'csat' then score end") }} as csat_pct
    from ({{ unpivot_segments('responses', segments) }}) as segmented
    group by kpi_period, segment_type, segment_value

),

ticket_kpis as (

    select
        kpi_period, segment_type, segment_value,
        count(*) as tickets_created,
        {{ median('first_reply_minutes') }} as median_first_reply_minutes,
        {{ median('full_resolution_minutes') }} as median_resolution_minutes
    from ({{ unpivot_segments('tickets', segments) }}) as segmented
    group by kpi_period, segment_type, segment_value

),

keys as (

    select kpi_period, segment_type, segment_value from session_kpis
    union
    select kpi_period, segment_type, segment_value from survey_kpis
    union
    select kpi_period, segment_type, segment_value from ticket_kpis

)

select
    keys.kpi_period as {{ period_column }},
    keys.segment_type,
    keys.segment_value,
    cast(coalesce(session_kpis.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
    cast(coalesce(session_kpis.active_users, 0) as {{ dbt.type_bigint() }}) as active_users,
    cast(coalesce(session_kpis.converted_sessions, 0) as {{ dbt.type_bigint() }}) as converted_sessions,
    cast({{ pct('session_kpis.converted_sessions', 'session_kpis.sessions') }} as {{ type_double() }})
        as conversion_rate_pct,
    cast({{ pct('session_kpis.bounced_sessions', 'session_kpis.sessions') }} as {{ type_double() }})
        as bounce_rate_pct,
    cast({{ pct('session_kpis.sessions_with_errors', 'session_kpis.sessions') }} as {{ type_double() }})
        as error_session_rate_pct,
    cast({{ list_element('load_kpis.page_load_percentiles', 1) }} as {{ type_double() }})
        as p50_page_load_ms,
    cast({{ list_element('load_kpis.page_load_percentiles', 2) }} as {{ type_double() }})
        as p75_page_load_ms,
    cast({{ list_element('load_kpis.page_load_percentiles', 3) }} as {{ type_double() }})
        as p95_page_load_ms,
    cast(coalesce(survey_kpis.nps_responses, 0) as {{ dbt.type_bigint() }}) as nps_responses,
    cast(survey_kpis.nps as {{ type_double() }}) as nps,
    cast(coalesce(survey_kpis.csat_responses, 0) as {{ dbt.type_bigint() }}) as csat_responses,
    cast(survey_kpis.csat_pct as {{ type_double() }}) as csat_pct,
    coalesce(survey_kpis.nps_responses, 0) < {{ var('min_sample_size') }} as nps_sample_too_small,
    coalesce(survey_kpis.csat_responses, 0) < {{ var('min_sample_size') }} as csat_sample_too_small,
    cast(coalesce(ticket_kpis.tickets_created, 0) as {{ dbt.type_bigint() }}) as tickets_created,
    cast(ticket_kpis.median_first_reply_minutes as {{ type_double() }}) as median_first_reply_minutes,
    cast(ticket_kpis.median_resolution_minutes as {{ type_double() }}) as median_resolution_minutes
from keys
left join session_kpis
    on keys.kpi_period = session_kpis.kpi_period and keys.segment_type = session_kpis.segment_type
    and keys.segment_value = session_kpis.segment_value
left join load_kpis
    on keys.kpi_period = load_kpis.kpi_period and keys.segment_type = load_kpis.segment_type
    and keys.segment_value = load_kpis.segment_value
left join survey_kpis
    on keys.kpi_period = survey_kpis.kpi_period and keys.segment_type = survey_kpis.segment_type
    and keys.segment_value = survey_kpis.segment_value
left join ticket_kpis
    on keys.kpi_period = ticket_kpis.kpi_period and keys.segment_type = ticket_kpis.segment_type
    and keys.segment_value = ticket_kpis.segment_value
{%- endmacro %}
