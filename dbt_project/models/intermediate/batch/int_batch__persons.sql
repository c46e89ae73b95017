-- The persons (stitched user ids) whose rows this run rebuilds: every id on a touched message,
-- the user every touched anonymous id now belongs to, and every user ever seen with a touched
-- anonymous id (the one it belonged to before this batch is among them). A person-level model
-- deletes these persons' rows and rebuilds them from all their events, so a late identify that
-- moves old anonymous events to a user, or a late event that merges two sessions, comes out as
-- a full rebuild would.
{{ config(tags=['hourly_batch']) }}

with

touched as (

    select * from {{ ref('int_batch__events') }}

),

touched_anonymous_ids as (

    select anonymous_id from touched where anonymous_id is not null
    union
    select previous_id from touched where event_type = 'alias' and previous_id is not null

),

paired_users as (

    select events.user_id
    from {{ ref('stg_segment__events') }} as events
    where events.user_id is not null
        and (events.anonymous_id in (select anonymous_id from touched_anonymous_ids)
             or (events.event_type = 'alias'
                 and events.previous_id in (select anonymous_id from touched_anonymous_ids)))

),

ids as (

    select anonymous_id as person_id from touched_anonymous_ids
    union
    select user_id from touched where user_id is not null
    union
    select user_id from paired_users
    union
    select identity.user_id
    from {{ ref('int_identity__anonymous_users') }} as identity
    where identity.anonymous_id in (select anonymous_id from touched_anonymous_ids)

)

select distinct person_id from ids
