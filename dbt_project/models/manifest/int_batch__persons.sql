-- The persons (stitched user ids) whose rows this run rebuilds, and from when (rebuild_from_at).
-- A person's rows change only where the batch changes them: at the (new or previous) time of a
-- touched message that is or was theirs, and at every event of an anonymous id the batch moves to
-- or from them (a late identify or alias; the identity rule is in int_identity__anonymous_users).
-- The earliest such time is moved back to the start of the stretch of activity it falls in or
-- continues (the first event after a 30-minute gap, which also anchors the 24-hour session cap),
-- so that every session from there on is rebuilt whole and none before it can change. Rows
-- before rebuild_from_at stay as they are; a null rebuild_from_at rebuilds the whole history.
-- The previous state comes from the stitched and sessionized tables as they are before this run
-- rebuilds them (the before_batch sources: as refs they would be a cycle). A run that fails after
-- some of them were rebuilt has changed that state, so the persons of a batch are kept in
-- ops.pending_persons until a run finishes the batch (macros/batch/batch.sql), and every run
-- also rebuilds the pending ones: the repeat ends where a clean run would.
{{ config(
    tags=['hourly_batch'],
    post_hook="insert into ops.pending_persons select person_id, rebuild_from_at, '{{ invocation_id }}', current_timestamp from {{ this }}",
) }}
{%- set stitched = source_if_built('before_batch', 'int_identity__events_stitched') %}
{%- set sessionized = source_if_built('before_batch', 'int_sessions__events_sessionized') %}

with

touched as (

    select * from {{ ref('int_batch__events') }}

),

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

),

touched_anonymous_ids as (

    select anonymous_id from touched where anonymous_id is not null
    union
    select previous_id from touched where event_type = 'alias' and previous_id is not null

),

{%- if stitched %}

-- The anonymous ids whose events without a user id the batch moves to another person (a late
-- identify or alias), with their earliest such event.
moved as (

    select before.anonymous_id, before.person_before, before.first_at,
        coalesce(identity.user_id, before.anonymous_id) as person_after
    from (
        select anonymous_id, stitched_user_id as person_before, min(event_at) as first_at
        from {{ stitched }}
        where user_id is null
            and anonymous_id in (select anonymous_id from touched_anonymous_ids)
        group by anonymous_id, stitched_user_id
    ) as before
    left join identity on before.anonymous_id = identity.anonymous_id

),
{%- endif %}

-- Each touched message at its person and time now ...
changes as (

    select
        coalesce(touched.user_id, identity.user_id, touched.anonymous_id) as person_id,
        touched.event_at as changed_at
    from touched
    left join identity on touched.anonymous_id = identity.anonymous_id
    {%- if stitched %}

    -- ... and before the batch: at the time of one of its deliveries then, so at or after the
    -- earliest delivery's (a literal: the engine skips the blocks of older rows)
    union all
    select stitched_user_id, event_at
    from {{ stitched }}
    where message_id in (select message_id from touched)
        {%- set touched_bound = earliest_bound("select earliest_delivery_event_at from " ~ ref('int_batch__events')) %}
        {%- if touched_bound %}
        and event_at >= {{ touched_bound }}
        {%- endif %}

    -- every event of a moved anonymous id, for the person it leaves and the one it joins
    union all
    select person_before, first_at from moved where person_before <> person_after
    union all
    select person_after, first_at from moved where person_before <> person_after
    {%- endif %}

),

earliest as (

    select
        person_id,
        case when count(*) = count(changed_at) then min(changed_at) end as changed_at
    from changes
    where person_id is not null
    group by person_id

){%- if stitched and sessionized %},

-- The stretch of activity the earliest change falls in or continues: the person's last session
-- event in the session_timeout_minutes before it, and that event's stretch start. (With no such
-- event the change starts a stretch of its own: nothing before it can join a session with it.)
prior as (

    select
        sessionized.stitched_user_id,
        sessionized.activity_start_at,
        row_number() over (
            partition by sessionized.stitched_user_id
            order by sessionized.event_at desc, sessionized.message_id desc
        ) as from_last
    from {{ sessionized }} as sessionized
    inner join earliest
        on sessionized.stitched_user_id = earliest.person_id
        and sessionized.event_at < earliest.changed_at
        and sessionized.event_at >= {{ dbt.dateadd('minute', -var('session_timeout_minutes'), 'earliest.changed_at') }}

),

computed as (

    select
        earliest.person_id,
        case
            when earliest.changed_at is null then null
            else coalesce(prior.activity_start_at, earliest.changed_at)
        end as rebuild_from_at
    from earliest
    left join prior on earliest.person_id = prior.stitched_user_id and prior.from_last = 1

)
{%- else %},

-- No previous state (first build): the whole history.
computed as (

    select person_id, cast(null as {{ dbt.type_timestamp() }}) as rebuild_from_at
    from earliest

)
{%- endif %},

-- with the persons of runs that did not finish this batch
candidates as (

    select person_id, rebuild_from_at from computed
    union all
    select person_id, rebuild_from_at from {{ source('ops', 'pending_persons') }}

)

select
    person_id,
    cast(case when count(*) = count(rebuild_from_at) then min(rebuild_from_at) end
        as {{ dbt.type_timestamp() }}) as rebuild_from_at
from candidates
group by person_id
