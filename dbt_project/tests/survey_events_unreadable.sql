-- Track events named as survey answers (var survey_response_events) that did not become a
-- response: no survey type among nps/csat/ces, or no integer score in its range. A warning, not
-- an error: the events stay in fct_events; fix the tool's property names in the vars
-- (survey_event_properties) and the next build reads them.
{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_surveys__responses'}}}) }}

select events.message_id, events.event_name, events.properties
from {{ ref('stg_segment__events') }} as events
left join {{ ref('int_surveys__responses') }} as responses
    on events.message_id = responses.response_id
where events.event_type = 'track'
    and events.event_name in {{ survey_event_names() }}
    and not events.is_bot
    and responses.response_id is null
