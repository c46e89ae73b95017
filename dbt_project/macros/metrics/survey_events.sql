{#- The names of the track events that carry a survey answer (var survey_response_events), as
    an SQL list for `event_name in (...)`. -#}
{% macro survey_event_names() -%}
    (
    {%- for name in var('survey_response_events') %}
    '{{ name }}'{{ "," if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
