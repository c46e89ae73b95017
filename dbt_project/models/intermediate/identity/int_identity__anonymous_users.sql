-- Which user an anonymous id belongs to: the first user_id ever seen with it, from identify and
-- alias calls or any event carrying both ids. An anonymous id later seen with a different
-- user_id stays with the first one: two identified users are never merged automatically.
-- Incremental: a batch recomputes the anonymous ids on its messages from all their pairs.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='anonymous_id',
    tags=['hourly_batch'],
) }}
-- depends_on: {{ ref('int_batch__events') }}

with

{% if is_incremental() %}
touched as (

    select anonymous_id from {{ ref('int_batch__events') }} where anonymous_id is not null
    union
    select previous_id from {{ ref('int_batch__events') }}
    where event_type = 'alias' and previous_id is not null

),
{% endif %}

events as (

    select * from {{ ref('stg_segment__events') }}
    {%- if is_incremental() %}
    where anonymous_id in (select anonymous_id from touched)
        or (event_type = 'alias' and previous_id in (select anonymous_id from touched))
    {%- endif %}

),

pairs as (

    select anonymous_id, user_id, event_at
    from events
    where anonymous_id is not null and user_id is not null

    union all

    -- alias(previousId -> userId) links an earlier id to the user
    select previous_id as anonymous_id, user_id, event_at
    from events
    where event_type = 'alias' and previous_id is not null and user_id is not null

),

-- The first time each user_id was seen with each anonymous id, then the earliest of those: the
-- same first pair as ranking every event, but the ranking sorts the distinct pairs, not every
-- event of the ids (at 30 days of history a batch's anonymous ids carry ~5.6M events: their
-- ranking took 4.8 s, this 0.5 s).
firsts as (

    select anonymous_id, user_id, min(event_at) as first_seen_at
    from pairs
    group by anonymous_id, user_id

),

ranked as (

    select
        anonymous_id,
        user_id,
        first_seen_at,
        row_number() over (partition by anonymous_id order by first_seen_at, user_id) as pair_rank,
        count(*) over (partition by anonymous_id) as user_ids_seen
    from firsts

)

select
    anonymous_id,
    user_id,
    first_seen_at as first_identified_at,
    user_ids_seen > 1 as has_conflicting_user_ids
from ranked
where pair_rank = 1
