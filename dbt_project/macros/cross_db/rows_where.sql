{#- A filter keeping the rows of `relation` that meet any of `conditions` (SQL on its columns),
    for a query that reads `relation` itself (as `alias`, if it has one).

    On DuckDB the conditions are evaluated on a narrow scan of the columns they name, and the
    rows are then fetched by rowid: a person-level model reads its persons' few rows out of a
    wide table ordered by load, not by person, and a plain `person in (...)` made DuckDB read
    every column of every row first (int_identity__events_stitched at 30 days of history:
    stg_segment__events' JSON columns for 11.9M rows to keep 0.4M). Each condition is its own
    scan (an OR of semi-joins is not turned into a rowid fetch). Elsewhere: the conditions. -#}
{% macro rows_where(relation, conditions, alias=none) -%}
    {{ return(adapter.dispatch('rows_where', 'cx_warehouse')(relation, conditions, alias)) }}
{%- endmacro %}

{% macro default__rows_where(relation, conditions, alias) -%}
    ({{ conditions | join(' or ') }})
{%- endmacro %}

{% macro duckdb__rows_where(relation, conditions, alias) -%}
    {{ alias ~ '.' if alias }}rowid in (
    {%- for condition in conditions %}
        select rowid from {{ relation }} where {{ condition }}{{ ' union all' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}
