{#- Between a CTE's name and its body (`events as {{ not_materialized() }} (`): read the CTE
    where it is used rather than computing it once into a buffer. DuckDB buffers a CTE that is
    read more than once, with all its columns (spilling past memory_limit); for a CTE over a table
    whose readers need few of its columns, or little of its rows, two reads of the table are
    cheaper; each model using it gives its own measurement (docs/benchmarks.md). Elsewhere it
    says nothing: Spark SQL has no such clause. -#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}{%- endmacro %}

{% macro duckdb__not_materialized() -%}not materialized{%- endmacro %}
