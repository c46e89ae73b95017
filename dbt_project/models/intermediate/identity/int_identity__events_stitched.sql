-- Every event with the person it belongs to: its own user_id; else the user its anonymous id was
-- identified as (so activity before sign-up counts for the user); else the anonymous id.
-- Incremental by person: a batch deletes its persons' rows from each one's rebuild_from_at on
-- (int_batch__persons) and rebuilds them from every event that may belong to them (their user id,
-- their anonymous ids, the anonymous ids linked to them). Built in the staging's arrival order, so
-- that the time bound lets the engine skip the blocks of older rows.
-- It carries the columns the marts use, not the raw JSON (properties, context) nor the delivery
-- bookkeeping: a batch rebuilds its persons' whole histories, rows spread over the whole table,
-- and reading the wide columns of those rows was most of this model's time.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_persons',
    rebuilt_from='event_at',
    tags=['hourly_batch'],
) }}

with

identity as (

    select * from {{ ref('int_identity__anonymous_users') }}

),

events as (

    select
        {% for column in stitched_columns() if column not in ('stitched_user_id', 'is_identified') -%}
        {{ column }}{{ ',' if not loop.last }}
        {% endfor -%}
    from {{ ref('stg_segment__events') }}
    {%- if is_incremental() %}
    where ({{ in_batch_persons('user_id') }}
        or {{ in_batch_persons('anonymous_id') }}
        or anonymous_id in (
            select anonymous_id from identity where {{ in_batch_persons('user_id') }}
        ))
        {%- set bound = batch_rebuild_bound() %}
        {%- if bound %}
        and event_at >= {{ bound }}
        {%- endif %}
    {%- endif %}

),

stitched as (

    select
        events.*,
        coalesce(events.user_id, identity.user_id, events.anonymous_id) as stitched_user_id,
        coalesce(events.user_id, identity.user_id) is not null as is_identified
    from events
    left join identity on events.anonymous_id = identity.anonymous_id

)

-- No ORDER BY: the rows keep the staging's arrival order, why that is enough is at the end of
-- stg_segment__events. The model's 30-day full build as plain SQL: 23.2 s sorted, 14.5 s not.
select * from stitched
{{ only_batch_persons(time_column='event_at') }}
