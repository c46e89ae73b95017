{#- The funnel step (1..n) an event stands for, from var('funnel_steps'); step 1 ("landing") is any
    page or screen view. 0 when the event is no step. -#}
{% macro funnel_step(event_type_column, event_name_column) -%}
    {%- set steps = var('funnel_steps') -%}
    case
        when {{ event_name_column }} = '{{ steps[-1] }}' then {{ steps | length }}
        {%- for step in steps[1:-1] | reverse %}
        when {{ event_name_column }} = '{{ step }}' then {{ steps | length - loop.index }}
        {%- endfor %}
        when {{ event_type_column }} in ('page', 'screen') then 1
        else 0
    end
{%- endmacro %}
