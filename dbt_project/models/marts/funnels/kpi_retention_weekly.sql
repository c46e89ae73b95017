-- Weekly retention: people grouped by the week they were first seen (cohort), and the share of
-- each cohort active (with a session) in week N after it — "on" week N, and "on or after" it.
-- Rebuilt whole on every run: it aggregates small tables (see docs/operations.md).
{{ config(tags=['kpi_batch']) }}
with

users as (

    select
        stitched_user_id,
        cast({{ dbt.date_trunc('week', 'first_seen_at') }} as date) as cohort_week
    from {{ ref('dim_users') }}

),

session_weeks as (

    select distinct
        stitched_user_id,
        cast({{ dbt.date_trunc('week', 'session_start_at') }} as date) as active_week
    from {{ ref('fct_sessions') }}

),

cohort_sizes as (

    select cohort_week, count(*) as cohort_users from users group by cohort_week

),

activity as (

    select
        users.cohort_week,
        users.stitched_user_id,
        cast({{ dbt.datediff('users.cohort_week', 'session_weeks.active_week', 'day') }} / 7
            as integer) as week_number
    from users
    inner join session_weeks on users.stitched_user_id = session_weeks.stitched_user_id
    where session_weeks.active_week >= users.cohort_week

),

last_active as (

    select cohort_week, stitched_user_id, max(week_number) as last_week_number
    from activity
    group by cohort_week, stitched_user_id

),

cohort_weeks as (

    select distinct cohort_week, week_number from activity

),

active_on as (

    select cohort_week, week_number, count(*) as users
    from activity
    group by cohort_week, week_number

),

active_on_or_after as (

    select cohort_weeks.cohort_week, cohort_weeks.week_number, count(*) as users
    from cohort_weeks
    inner join last_active
        on cohort_weeks.cohort_week = last_active.cohort_week
        and last_active.last_week_number >= cohort_weeks.week_number
    group by cohort_weeks.cohort_week, cohort_weeks.week_number

)

select
    cohort_weeks.cohort_week,
    cohort_weeks.week_number,
    cast(cohort_sizes.cohort_users as {{ dbt.type_bigint() }}) as cohort_users,
    cast(coalesce(active_on.users, 0) as {{ dbt.type_bigint() }}) as active_users_on,
    cast(coalesce(active_on_or_after.users, 0) as {{ dbt.type_bigint() }}) as active_users_on_or_after,
    cast({{ pct('coalesce(active_on.users, 0)', 'cohort_sizes.cohort_users') }} as {{ type_double() }})
        as active_on_pct,
    cast({{ pct('coalesce(active_on_or_after.users, 0)', 'cohort_sizes.cohort_users') }}
        as {{ type_double() }}) as active_on_or_after_pct
from cohort_weeks
inner join cohort_sizes on cohort_weeks.cohort_week = cohort_sizes.cohort_week
left join active_on
    on cohort_weeks.cohort_week = active_on.cohort_week
    and cohort_weeks.week_number = active_on.week_number
left join active_on_or_after
    on cohort_weeks.cohort_week = active_on_or_after.cohort_week
    and cohort_weeks.week_number = active_on_or_after.week_number
