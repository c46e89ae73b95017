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


{#- The text values at several JSON paths of one column, as a list of expressions (one per path,
    in order). DuckDB parses the document once for all of them: json_extract_string with a list
    of paths, indexed per field (the optimizer computes the shared call once; 7 fields of 12M
    events: 6.6 s against 14.6 s with one call per field). Elsewhere, one json_text per path. -#}
{% macro json_texts(column, paths) -%}
    {{ return(adapter.dispatch('json_texts', 'cx_warehouse')(column, paths)) }}
{%- endmacro %}

{% macro default__json_texts(column, paths) -%}
    {%- set expressions = [] -%}
    {%- for path in paths -%}
        {%- do expressions.append(json_text(column, path)) -%}
    {%- endfor -%}
    {{ return(expressions) }}
{%- endmacro %}

{% macro duckdb__json_texts(column, paths) -%}
    {%- set call = "json_extract_string(" ~ column ~ ", ['" ~ paths | join("', '") ~ "'])" -%}
    {%- set expressions = [] -%}
    {%- for path in paths -%}
        {%- do expressions.append(call ~ '[' ~ loop.index ~ ']') -%}
    {%- endfor -%}
    {{ return(expressions) }}
{%- endmacro %}
