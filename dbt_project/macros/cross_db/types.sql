{#- 8-byte floating point (dbt.type_float() is 4 bytes on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double{%- endmacro %}


{#- A timestamp with time zone, as dlt loads them (Spark's timestamp is zoned already). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}timestamp with time zone{%- endmacro %}

{% macro spark__type_timestamp_tz() -%}timestamp{%- endmacro %}


{#- A JSON document kept as text (DuckDB's JSON type; a string elsewhere). -#}
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__type_json() -%}{{ dbt.type_string() }}{%- endmacro %}

{% macro duckdb__type_json() -%}json{%- endmacro %}
