{#- `left join` of the plan `person_column` was on at `time_column` (int_identity__plans), as
    `alias`.plan: the traits.plan of their latest identify at or before that time. `plans` is the
    relation to read (default: the model's ref). -#}
{% macro join_plan_at(alias, person_column, time_column, plans=none) -%}
    left join {{ plans if plans is not none else ref('int_identity__plans') }} as {{ alias }}
        on {{ alias }}.stitched_user_id = {{ person_column }}
        and {{ alias }}.valid_from_at <= {{ time_column }}
        and ({{ alias }}.valid_to_at is null or {{ time_column }} < {{ alias }}.valid_to_at)
{%- endmacro %}
