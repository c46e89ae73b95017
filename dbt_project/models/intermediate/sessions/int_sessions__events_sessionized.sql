-- User-initiated events (track, page, screen) per stitched user, cut into sessions: a new session
-- starts when the previous event of the same user is session_timeout_minutes or more before, or
-- when the session has lasted session_max_hours.
-- session_id hashes the user and the session's first event time, so rebuilding gives the same ids.
-- Incremental by person: a batch re-sessionizes its persons' events from each one's
-- rebuild_from_at on, the start of a stretch of activity (int_batch__persons): sessions never
-- straddle it, and the columns here depend only on the stretch, not on earlier events.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='event_at',
    tags=['hourly_batch'],
) }}

with

events as {{ not_materialized() }} (

    select * from {{ ref('int_identity__events_stitched') }}
    where {{ sessionized_event() }}
    {{ only_batch_persons(keyword='and', time_column='event_at') }}

),

-- The windows sort only the three columns they need, and the events' other columns join back by
-- message_id at the end: sorting the carried columns too (three sorts of every event) made the
-- model's 30-day full build as plain SQL take 64.9 s; sorting the keys, 54.2 s; and with
-- `events` read twice (keys, then the join back) instead of buffered whole by DuckDB
-- (not_materialized), 43.9 s against 65.2 s buffered on the same run (docs/benchmarks.md).
event_keys as (

    select stitched_user_id, event_at, message_id from events

),

gaps as (

    select
        *,
        lag(event_at) over (
            partition by stitched_user_id order by event_at, message_id
        ) as previous_event_at
    from event_keys

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

-- The session number and the session's first event time in one window (one sort): rows are in
-- time order within a user, so the latest session start so far is the current session's start.
-- (A second window partitioned by the session number sorted the month's rows once more: the
-- model's 30-day full build as plain SQL took 46.5 s with it, 40.5 s without; docs/benchmarks.md.)
numbered as (

    select
        *,
        sum(is_session_start) over (
            partition by stitched_user_id order by event_at, message_id
            rows between unbounded preceding and current row
        ) as user_session_number,
        max(case when is_session_start = 1 then event_at end) over (
            partition by stitched_user_id order by event_at, message_id
            rows between unbounded preceding and current row
        ) as activity_start_at
    from starts

),

-- The 24-hour cap: a stretch of activity with no 30-minute gap is cut every session_max_hours
-- from its first event. (Exact for stretches under twice the cap; longer unbroken activity is
-- cut on that fixed grid rather than 24 h after each new piece's first event.)
capped as (

    select
        *,
        floor(
            {{ dbt.datediff('activity_start_at', 'event_at', 'millisecond') }}
            / ({{ var('session_max_hours') }} * 3600 * 1000.0)
        ) as length_cap_piece
    from numbered

),

sessions_of_events as (

    select
        message_id,
        activity_start_at,
        length_cap_piece,
        min(event_at) over (
            partition by stitched_user_id, user_session_number, length_cap_piece
        ) as session_start_at
    from capped

),

with_session_start as (

    select
        events.*,
        sessions_of_events.activity_start_at,
        sessions_of_events.length_cap_piece,
        sessions_of_events.session_start_at
    from events
    inner join sessions_of_events on events.message_id = sessions_of_events.message_id

)

select
    {{ dbt.hash(dbt.concat([
        'stitched_user_id', "'|'", 'cast(session_start_at as ' ~ dbt.type_string() ~ ')'])) }}
        as session_id,
    {% for column in stitched_columns() -%}
    {{ column }},
    {% endfor -%}
    activity_start_at,
    length_cap_piece,
    session_start_at
from with_session_start
-- No ORDER BY, for the reason at the end of stg_segment__events. The model's 30-day full build as
-- plain SQL: 45.5 s sorted, 32.8 s not.
