-- The plan each person was on, over time: traits.plan of each identify call (with traits), from
-- its time until the next one. KPI segments by plan take the plan at the time of the session,
-- page view, ticket or response (macros/metrics/plans.sql); before a person's first identify it
-- is unknown. dim_users.plan is the plan now.
-- Incremental by person: a batch rebuilds its persons' whole plan history (identify calls only).
-- Runs after the KPI snapshot (int_batch__kpi_rows_before), which reads the plans before the batch.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}

with

identifies as (

    select
        stitched_user_id,
        message_id,
        event_at,
        {{ json_text('traits', '$.plan') }} as plan
    from {{ ref('int_identity__events_stitched') }}
    where event_type = 'identify' and traits is not null
    {{ only_batch_persons(keyword='and') }}

)

select
    stitched_user_id,
    plan,
    cast(event_at as {{ dbt.type_timestamp() }}) as valid_from_at,
    cast(lead(event_at) over (
        partition by stitched_user_id order by event_at, message_id
    ) as {{ dbt.type_timestamp() }}) as valid_to_at
from identifies
