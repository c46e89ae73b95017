-- Support KPIs per UTC day the tickets were created: volume, first reply and resolution (median
-- and p90), reopens, and Zendesk's satisfaction rating, overall and for tickets that followed an
-- error the requester hit (within var('experience_window_hours') before the ticket, the window
-- survey answers use too).
-- Rebuilt whole on every run: fct_tickets is small (see docs/operations.md).
{{ config(tags=['kpi_batch']) }}
with

tickets as (

    select
        cast({{ dbt.date_trunc('day', 'created_at') }} as date) as ticket_date,
        first_reply_minutes,
        full_resolution_minutes,
        reopens,
        is_solved,
        csat_rating,
        coalesce(
            last_error_at >= {{ dbt.dateadd('hour', -var('experience_window_hours'), 'created_at') }},
            false
        ) as followed_error
    from {{ ref('fct_tickets') }}

),

daily as (

    select
        ticket_date,
        count(*) as tickets_created,
        count(case when is_solved then 1 end) as tickets_solved,
        count(first_reply_minutes) as tickets_replied,
        {{ median('first_reply_minutes') }} as median_first_reply_minutes,
        {{ percentile('first_reply_minutes', 0.9) }} as p90_first_reply_minutes,
        {{ median('full_resolution_minutes') }} as median_resolution_minutes,
        {{ percentile('full_resolution_minutes', 0.9) }} as p90_resolution_minutes,
        count(case when reopens > 0 then 1 end) as tickets_reopened,
        count(case when csat_rating in ('good', 'bad') then 1 end) as csat_rated,
        {{ pct("sum(case when csat_rating = 'good' then 1 else 0 end)",
               "sum(case when csat_rating in ('good', 'bad') then 1 else 0 end)") }}
            as csat_good_pct,
        count(case when followed_error then 1 end) as tickets_after_error,
        count(case when followed_error and csat_rating in ('good', 'bad') then 1 end)
            as csat_rated_after_error,
        {{ pct("sum(case when followed_error and csat_rating = 'good' then 1 else 0 end)",
               "sum(case when followed_error and csat_rating in ('good', 'bad') then 1 else 0 end)") }}
            as csat_good_pct_after_error
    from tickets
    group by ticket_date

)

select
    ticket_date,
    tickets_created,
    tickets_solved,
    tickets_replied,
    cast(median_first_reply_minutes as {{ type_double() }}) as median_first_reply_minutes,
    cast(p90_first_reply_minutes as {{ type_double() }}) as p90_first_reply_minutes,
    cast(median_resolution_minutes as {{ type_double() }}) as median_resolution_minutes,
    cast(p90_resolution_minutes as {{ type_double() }}) as p90_resolution_minutes,
    tickets_reopened,
    cast({{ pct('tickets_reopened', 'tickets_created') }} as {{ type_double() }}) as reopen_rate_pct,
    csat_rated,
    cast(csat_good_pct as {{ type_double() }}) as csat_good_pct,
    tickets_after_error,
    csat_rated_after_error,
    cast(csat_good_pct_after_error as {{ type_double() }}) as csat_good_pct_after_error,
    csat_rated < {{ var('min_sample_size') }} as csat_sample_too_small
from daily
