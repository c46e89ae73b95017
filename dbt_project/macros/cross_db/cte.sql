{#- Between a CTE's name and its body (`events as {{ not_materialized() }} (`): read the CTE
    where it is used rather than computing it once into a buffer. DuckDB buffers a CTE that is
    read more than once, with all its columns (spilling past memory_limit); for a CTE over a table
    whose readers need few of its columns, or little of its rows, two reads of the table are
    cheaper. Measured as plain SQL on the 30-day benchmark warehouse (docs/benchmarks.md): the
    sessionized events' full build 65.2 s buffered, 43.9 s read twice. Spark inlines CTEs anyway:
    nothing to say there. -#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}{%- endmacro %}

{% macro duckdb__not_materialized() -%}not materialized{%- endmacro %}
