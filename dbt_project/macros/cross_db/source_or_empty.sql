{#- The given columns of a source table. A column dlt has not created yet (it adds one the first
    time a value appears: no ticket solved yet, no rating yet) comes back as a typed null, and a
    table dlt has not created yet (nothing loaded for that feed, nothing quarantined) as an empty
    relation, so staging works from the very first batch. -#}
{% macro source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = adapter.get_relation(relation.database, relation.schema, relation.identifier) if execute else none -%}
    {%- set existing = [] -%}
    {%- if found is not none -%}
        {%- for column in adapter.get_columns_in_relation(found) -%}
            {%- do existing.append(column.name | lower) -%}
        {%- endfor -%}
    {%- endif -%}
    select
    {%- for name, type in columns.items() %}
        {% if name | lower in existing -%}
        cast({{ adapter.quote(name) }} as {{ type }}) as {{ adapter.quote(name) }}
        {%- else -%}
        cast(null as {{ type }}) as {{ adapter.quote(name) }}
        {%- endif %}{{ "," if not loop.last }}
    {%- endfor %}
    {% if execute and found is none -%}
    where 1 = 0
    {%- else -%}
    from {{ relation }}
    {%- endif %}
{%- endmacro %}
