-- User-initiated events (track, page, screen) per stitched user, cut into sessions: a new session
-- starts when the previous event of the same user is session_timeout_minutes or more before.
-- session_id hashes the user and the session's first event time, so rebuilding gives the same ids.
with

events as (

    select * from {{ ref('stg_segment__events') }}
    where event_type in ('track', 'page', 'screen')

),

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

),

stitched as (

    select
        events.*,
        coalesce(events.user_id, identity.user_id, events.anonymous_id) as stitched_user_id
    from events
    left join identity on events.anonymous_id = identity.anonymous_id

),

gaps as (

    select
        *,
        lag(event_at) over (
            partition by stitched_user_id order by event_at, message_id
        ) as previous_event_at
    from stitched

),

starts as (

    select
        *,
        case
            when previous_event_at is null then 1
            when {{ dbt.datediff('previous_event_at', 'event_at', 'millisecond') }}
                >= {{ var('session_timeout_minutes') }} * 60 * 1000 then 1
            else 0
        end as is_session_start
    from gaps

),

numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by stitched_user_id order by event_at, message_id
            rows between unbounded preceding and current row
        ) as user_session_number
    from starts

),

with_session_start as (

    select
        *,
        min(event_at) over (partition by stitched_user_id, user_session_number) as session_start_at
    from numbered

)

select
    {{ dbt.hash(dbt.concat([
        'stitched_user_id', "'|'", 'cast(session_start_at as ' ~ dbt.type_string() ~ ')'])) }}
        as session_id,
    *
from with_session_start
