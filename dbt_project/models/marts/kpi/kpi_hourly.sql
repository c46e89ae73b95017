-- Headline CX KPIs per UTC hour: what an incident looks like within the day.
with

sessions as (

    select
        {{ dbt.date_trunc('hour', 'session_start_at') }} as kpi_hour,
        *
    from {{ ref('fct_sessions') }}

),

session_kpis as (

    select
        kpi_hour,
        count(*) as sessions,
        count(distinct stitched_user_id) as active_users,
        sum(case when is_converted then 1 else 0 end) as converted_sessions,
        sum(case when errors > 0 then 1 else 0 end) as sessions_with_errors
    from sessions
    group by kpi_hour

),

page_loads as (

    select
        {{ dbt.date_trunc('hour', 'viewed_at') }} as kpi_hour,
        {{ percentile('page_load_ms', 0.5) }} as p50_page_load_ms,
        {{ percentile('page_load_ms', 0.75) }} as p75_page_load_ms,
        {{ percentile('page_load_ms', 0.95) }} as p95_page_load_ms
    from {{ ref('fct_page_views') }}
    group by 1

),

survey_kpis as (

    select
        {{ dbt.date_trunc('hour', 'created_at') }} as kpi_hour,
        count(case when survey_type = 'nps' then score end) as nps_responses,
        {{ nps("case when survey_type = 'nps' then score end") }} as nps,
        count(case when survey_type = 'csat' then score end) as csat_responses,
        {{ csat("case when survey_type = 'csat' then score end") }} as csat_pct
    from {{ ref('fct_survey_responses') }}
    group by 1

),

ticket_kpis as (

    select
        {{ dbt.date_trunc('hour', 'created_at') }} as kpi_hour,
        count(*) as tickets_created,
        {{ median('first_reply_minutes') }} as median_first_reply_minutes
    from {{ ref('fct_tickets') }}
    group by 1

),

hours as (

    select kpi_hour from session_kpis
    union
    select kpi_hour from survey_kpis
    union
    select kpi_hour from ticket_kpis

)

select
    cast(hours.kpi_hour as {{ dbt.type_timestamp() }}) as kpi_hour,
    cast(coalesce(session_kpis.sessions, 0) as {{ dbt.type_bigint() }}) as sessions,
    cast(coalesce(session_kpis.active_users, 0) as {{ dbt.type_bigint() }}) as active_users,
    cast(coalesce(session_kpis.converted_sessions, 0) as {{ dbt.type_bigint() }}) as converted_sessions,
    cast({{ pct('session_kpis.converted_sessions', 'session_kpis.sessions') }} as {{ type_double() }})
        as conversion_rate_pct,
    cast({{ pct('session_kpis.sessions_with_errors', 'session_kpis.sessions') }} as {{ type_double() }})
        as error_session_rate_pct,
    cast(page_loads.p50_page_load_ms as {{ type_double() }}) as p50_page_load_ms,
    cast(page_loads.p75_page_load_ms as {{ type_double() }}) as p75_page_load_ms,
    cast(page_loads.p95_page_load_ms as {{ type_double() }}) as p95_page_load_ms,
    cast(coalesce(survey_kpis.nps_responses, 0) as {{ dbt.type_bigint() }}) as nps_responses,
    cast(survey_kpis.nps as {{ type_double() }}) as nps,
    cast(coalesce(survey_kpis.csat_responses, 0) as {{ dbt.type_bigint() }}) as csat_responses,
    cast(survey_kpis.csat_pct as {{ type_double() }}) as csat_pct,
    cast(coalesce(ticket_kpis.tickets_created, 0) as {{ dbt.type_bigint() }}) as tickets_created,
    cast(ticket_kpis.median_first_reply_minutes as {{ type_double() }}) as median_first_reply_minutes
from hours
left join session_kpis on hours.kpi_hour = session_kpis.kpi_hour
left join page_loads on hours.kpi_hour = page_loads.kpi_hour
left join survey_kpis on hours.kpi_hour = survey_kpis.kpi_hour
left join ticket_kpis on hours.kpi_hour = ticket_kpis.kpi_hour
