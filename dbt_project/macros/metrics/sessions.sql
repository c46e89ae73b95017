{#- Whether an event takes part in sessions: user-initiated (track, page, screen) and not from a
    bot (crawlers and tools stay in fct_events, out of sessions and KPIs). Null for an event
    without a type. int_sessions__events_sessionized keeps these events; fct_events takes them
    from there and every other event from the stitched events. -#}
{% macro sessionized_event(event_type='event_type', is_bot='is_bot') -%}
    ({{ event_type }} in ('track', 'page', 'screen') and not coalesce({{ is_bot }}, false))
{%- endmacro %}
