{#- The rows of `relation` once per segment: an 'overall' copy (segment_value 'all'), and one
    copy per segment type with that segment's value ('unknown' when null). `segments` maps the
    segment type (device, country, plan, first_touch_source) to the column holding it. -#}
{% macro unpivot_segments(relation, segments) -%}
    select 'overall' as segment_type, 'all' as segment_value, {{ relation }}.* from {{ relation }}
    {%- for segment_type, column in segments.items() %}
    union all
    select
        '{{ segment_type }}' as segment_type,
        coalesce(cast({{ column }} as {{ dbt.type_string() }}), 'unknown') as segment_value,
        {{ relation }}.*
    from {{ relation }}
    {%- endfor %}
{%- endmacro %}
