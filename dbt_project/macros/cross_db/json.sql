{#- Text value at a JSON path ('$.a.b') of a JSON text column. The few engine-specific constructs
    live behind adapter.dispatch so the models run unchanged on DuckDB and Spark. -#}
{% macro json_text(column, path) -%}
    {{ return(adapter.dispatch('json_text', 'cx_warehouse')(column, path)) }}
{%- endmacro %}

{% macro default__json_text(column, path) -%}
    json_extract_string({{ column }}, '{{ path }}')
{%- endmacro %}

{% macro spark__json_text(column, path) -%}
    get_json_object({{ column }}, '{{ path }}')
{%- endmacro %}
