-- Every survey response, whatever brought it: the survey feed (Typeform, the generic export) and
-- the `track` events in-app survey tools forward to Segment ("Survey Responded"; the event names
-- and property names are the dbt vars survey_response_events and survey_event_properties).
-- One row per response; an event's response id is its message id. Events from bots, and events
-- whose survey type or score cannot be read, are left out (counted by the warn-level test
-- survey_events_unreadable).
-- A table, not a view: its key test, that warning and fct_survey_responses each read it, and as
-- a view each of them scanned every staged event for the survey ones (1.1 s a batch at 30 days).
{{ config(materialized='table', tags=['hourly_batch']) }}
{%- set props = var('survey_event_properties') %}
{%- set ranges = {'nps': (0, 10), 'csat': (1, 5), 'ces': (1, 7)} %}

with

feed as (

    select
        response_id,
        survey_id,
        survey_type,
        score,
        comment,
        respondent_user_id,
        respondent_anonymous_id,
        respondent_email_hash,
        trigger_type,
        trigger_name,
        response_source,
        created_at,
        updated_at
    from {{ ref('stg_surveys__responses') }}

),

events as (

    select
        message_id,
        user_id,
        anonymous_id,
        event_at,
        lower({{ json_text('properties', '$.' ~ props['survey_type']) }}) as survey_type,
        {{ json_text('properties', '$.' ~ props['survey_id']) }} as survey_id,
        {{ dbt.safe_cast(json_text('properties', '$.' ~ props['score']), type_double()) }}
            as score_value,
        {{ json_text('properties', '$.' ~ props['comment']) }} as comment
    from {{ ref('stg_segment__events') }}
    where event_type = 'track'
        and event_name in {{ survey_event_names() }}
        and not is_bot

),

from_events as (

    select
        message_id as response_id,
        survey_id,
        survey_type,
        cast(score_value as integer) as score,
        comment,
        user_id as respondent_user_id,
        anonymous_id as respondent_anonymous_id,
        cast(null as {{ dbt.type_string() }}) as respondent_email_hash,
        cast(null as {{ dbt.type_string() }}) as trigger_type,
        cast(null as {{ dbt.type_string() }}) as trigger_name,
        'segment_event' as response_source,
        event_at as created_at,
        event_at as updated_at
    from events
    where score_value = floor(score_value)
        and (
            {%- for kind, bounds in ranges.items() %}
            (survey_type = '{{ kind }}' and score_value between {{ bounds[0] }} and {{ bounds[1] }})
            {{- " or" if not loop.last }}
            {%- endfor %}
        )

)

select * from feed
union all
select * from from_events
