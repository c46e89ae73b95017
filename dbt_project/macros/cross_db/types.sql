{#- 8-byte floating point (dbt.type_float() is 4 bytes on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double{%- endmacro %}
