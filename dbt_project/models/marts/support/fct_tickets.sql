-- One row per support ticket, linked to the person who asked and to what they went through just
-- before: their last session and last error before the ticket was created.
-- Rebuilt whole on every run: tickets and responses are few next to events.
{{ config(tags=['hourly_batch']) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}
with

tickets as (

    select * from {{ ref('stg_zendesk__tickets') }}

),

users as (

    select stitched_user_id, user_id, email_hash from {{ ref('dim_users') }}

),

by_user_id as (

    select tickets.ticket_id, users.stitched_user_id
    from tickets
    inner join users on tickets.requester_user_id = users.user_id

),

by_email as (

    {{ person_by_email('tickets', 'ticket_id', 'requester_email_hash') }}

),

linked as (

    select
        tickets.*,
        coalesce(by_user_id.stitched_user_id, by_email.stitched_user_id) as stitched_user_id
    from tickets
    left join by_user_id on tickets.ticket_id = by_user_id.ticket_id
    left join by_email on tickets.ticket_id = by_email.ticket_id

),

last_session as (

    select * from (
        select
            linked.ticket_id,
            sessions.session_id,
            sessions.session_start_at,
            row_number() over (
                partition by linked.ticket_id order by sessions.session_start_at desc
            ) as from_last
        from linked
        inner join {{ ref('fct_sessions') }} as sessions
            on linked.stitched_user_id = sessions.stitched_user_id
            and sessions.session_start_at <= cast(linked.created_at as {{ dbt.type_timestamp() }})
    ) ranked
    where from_last = 1

),

last_error as (

    select
        linked.ticket_id,
        max(events.event_at) as last_error_at
    from linked
    inner join {{ ref('fct_events') }} as events
        on linked.stitched_user_id = events.stitched_user_id
        and events.is_error
        and events.event_at <= cast(linked.created_at as {{ dbt.type_timestamp() }})
    group by linked.ticket_id

)

select
    linked.ticket_id,
    cast(linked.created_at as {{ dbt.type_timestamp() }}) as created_at,
    cast(linked.updated_at as {{ dbt.type_timestamp() }}) as updated_at,
    linked.status,
    linked.priority,
    linked.ticket_type,
    linked.channel,
    linked.stitched_user_id,
    linked.requester_email_hash,
    cast(linked.first_reply_minutes as {{ dbt.type_bigint() }}) as first_reply_minutes,
    cast(linked.full_resolution_minutes as {{ dbt.type_bigint() }}) as full_resolution_minutes,
    cast(coalesce(linked.reopens, 0) as {{ dbt.type_bigint() }}) as reopens,
    cast(linked.solved_at as {{ dbt.type_timestamp() }}) as solved_at,
    linked.status in ('solved', 'closed') as is_solved,
    linked.satisfaction_score as csat_rating,
    last_session.session_id as last_session_id,
    last_session.session_start_at as last_session_start_at,
    cast(last_error.last_error_at as {{ dbt.type_timestamp() }}) as last_error_at
from linked
left join last_session on linked.ticket_id = last_session.ticket_id
left join last_error on linked.ticket_id = last_error.ticket_id
