-- Headline CX KPIs per UTC day: traffic, conversion, experience, sentiment and support.
with

sessions as (

    select
        cast({{ dbt.date_trunc('day', 'session_start_at') }} as date) as kpi_date,
        *
    from {{ ref('fct_sessions') }}

),

session_kpis as (

    select
        kpi_date,
        count(*) as sessions,
        count(distinct stitched_user_id) as active_users,
        sum(case when is_converted then 1 else 0 end) as converted_sessions,
        sum(case when is_bounce then 1 else 0 end) as bounced_sessions,
        sum(case when errors > 0 then 1 else 0 end) as sessions_with_errors
    from sessions
    group by kpi_date

),

events as (

    select
        cast({{ dbt.date_trunc('day', 'event_at') }} as date) as kpi_date,
        event_name,
        event_type,
        page_load_ms
    from {{ ref('stg_segment__events') }}

),

event_kpis as (

    select
        kpi_date,
        sum(case when event_name = '{{ var("conversion_event") }}' then 1 else 0 end) as orders,
        {{ percentile('page_load_ms', 0.5) }} as p50_page_load_ms,
        {{ percentile('page_load_ms', 0.75) }} as p75_page_load_ms,
        {{ percentile('page_load_ms', 0.95) }} as p95_page_load_ms
    from events
    group by kpi_date

),

responses as (

    select
        cast({{ dbt.date_trunc('day', 'created_at') }} as date) as kpi_date,
        case when survey_type = 'nps' then score end as nps_score,
        case when survey_type = 'csat' then score end as csat_score,
        case when survey_type = 'ces' then score end as ces_score
    from {{ ref('stg_surveys__responses') }}

),

survey_kpis as (

    select
        kpi_date,
        count(nps_score) as nps_responses,
        {{ nps('nps_score') }} as nps,
        count(csat_score) as csat_responses,
        {{ csat('csat_score') }} as csat,
        count(ces_score) as ces_responses,
        avg(ces_score) as ces_mean
    from responses
    group by kpi_date

),

ticket_kpis as (

    select
        cast({{ dbt.date_trunc('day', 'created_at') }} as date) as kpi_date,
        count(*) as tickets_created,
        {{ median('first_reply_minutes') }} as median_first_reply_minutes,
        {{ median('full_resolution_minutes') }} as median_resolution_minutes
    from {{ ref('stg_zendesk__tickets') }}
    group by 1

),

days as (

    select kpi_date from session_kpis
    union
    select kpi_date from survey_kpis
    union
    select kpi_date from ticket_kpis

),

-- Churn: a person who was active in the previous window [D - 2w + 1, D - w] (w = churn window)
-- and not in the current one [D - w + 1, D]. For each stretch between two active days a < b,
-- the person counts as churned on the days D with a + w <= D < b and D <= a + 2w - 1.
active_days as (

    select distinct
        stitched_user_id,
        cast({{ dbt.date_trunc('day', 'session_start_at') }} as date) as active_date
    from sessions

),

active_stretches as (

    select
        stitched_user_id,
        active_date,
        lead(active_date) over (partition by stitched_user_id order by active_date) as next_active_date
    from active_days

),

churned as (

    select days.kpi_date, count(distinct active_stretches.stitched_user_id) as churned_users
    from days
    inner join active_stretches
        on days.kpi_date >= {{ dbt.dateadd('day', var('churn_window_days'), 'active_stretches.active_date') }}
        and days.kpi_date <= {{ dbt.dateadd('day', 2 * var('churn_window_days') - 1, 'active_stretches.active_date') }}
        and (active_stretches.next_active_date is null
             or days.kpi_date < active_stretches.next_active_date)
    group by days.kpi_date

),

previously_active as (

    select days.kpi_date, count(distinct active_days.stitched_user_id) as previously_active_users
    from days
    inner join active_days
        on active_days.active_date >= {{ dbt.dateadd('day', 1 - 2 * var('churn_window_days'), 'days.kpi_date') }}
        and active_days.active_date <= {{ dbt.dateadd('day', -1 * var('churn_window_days'), 'days.kpi_date') }}
    group by days.kpi_date

)

select
    days.kpi_date,
    cast(coalesce(session_kpis.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
    cast(coalesce(session_kpis.active_users, 0) as {{ dbt.type_bigint() }}) as active_users,
    cast(coalesce(session_kpis.converted_sessions, 0) as {{ dbt.type_bigint() }}) as converted_sessions,
    cast(coalesce(event_kpis.orders, 0) as {{ dbt.type_bigint() }}) as orders,
    cast({{ pct('session_kpis.converted_sessions', 'session_kpis.sessions') }} as {{ type_double() }})
        as conversion_rate_pct,
    cast({{ pct('session_kpis.bounced_sessions', 'session_kpis.sessions') }} as {{ type_double() }})
        as bounce_rate_pct,
    cast({{ pct('session_kpis.sessions_with_errors', 'session_kpis.sessions') }} as {{ type_double() }})
        as error_session_rate_pct,
    cast(event_kpis.p50_page_load_ms as {{ type_double() }}) as p50_page_load_ms,
    cast(event_kpis.p75_page_load_ms as {{ type_double() }}) as p75_page_load_ms,
    cast(event_kpis.p95_page_load_ms as {{ type_double() }}) as p95_page_load_ms,
    cast(coalesce(survey_kpis.nps_responses, 0) as {{ dbt.type_bigint() }}) as nps_responses,
    cast(survey_kpis.nps as {{ type_double() }}) as nps,
    cast(coalesce(survey_kpis.csat_responses, 0) as {{ dbt.type_bigint() }}) as csat_responses,
    cast(survey_kpis.csat as {{ type_double() }}) as csat_pct,
    cast(coalesce(survey_kpis.ces_responses, 0) as {{ dbt.type_bigint() }}) as ces_responses,
    cast(survey_kpis.ces_mean as {{ type_double() }}) as ces_mean,
    coalesce(survey_kpis.nps_responses, 0) < {{ var('min_sample_size') }} as nps_sample_too_small,
    coalesce(survey_kpis.csat_responses, 0) < {{ var('min_sample_size') }} as csat_sample_too_small,
    cast(coalesce(ticket_kpis.tickets_created, 0) as {{ dbt.type_bigint() }}) as tickets_created,
    cast(ticket_kpis.median_first_reply_minutes as {{ type_double() }}) as median_first_reply_minutes,
    cast(ticket_kpis.median_resolution_minutes as {{ type_double() }}) as median_resolution_minutes,
    cast(coalesce(previously_active.previously_active_users, 0) as {{ dbt.type_bigint() }})
        as previously_active_users,
    cast(coalesce(churned.churned_users, 0) as {{ dbt.type_bigint() }}) as churned_users,
    cast({{ pct('churned.churned_users', 'previously_active.previously_active_users') }}
        as {{ type_double() }}) as churn_rate_pct
from days
left join session_kpis on days.kpi_date = session_kpis.kpi_date
left join event_kpis on days.kpi_date = event_kpis.kpi_date
left join survey_kpis on days.kpi_date = survey_kpis.kpi_date
left join ticket_kpis on days.kpi_date = ticket_kpis.kpi_date
left join churned on days.kpi_date = churned.kpi_date
left join previously_active on days.kpi_date = previously_active.kpi_date
