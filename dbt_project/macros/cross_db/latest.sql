{#- The values of `columns` on the row with the greatest (`order_columns`...), as one struct
    (read its fields as `<alias>.<column>`): an aggregate, one pass, no window. The ordering
    columns must make the row unique (e.g. a time, then an id), or the pick is arbitrary.
    A struct rather than one aggregate per column: DuckDB's arg_max skips rows whose value is
    null, Spark's max_by does not; a struct is never null, so both return the same row. -#}
{% macro latest_of(columns, order_columns) -%}
    {{ return(adapter.dispatch('row_of', 'cx_warehouse')(columns, order_columns, 'max')) }}
{%- endmacro %}

{#- The same on the row with the least (`order_columns`...). -#}
{% macro earliest_of(columns, order_columns) -%}
    {{ return(adapter.dispatch('row_of', 'cx_warehouse')(columns, order_columns, 'min')) }}
{%- endmacro %}

{#- `extreme`: 'max' or 'min'. -#}
{% macro default__row_of(columns, order_columns, extreme) -%}
    {{ extreme }}_by(named_struct(
        {%- for column in columns %}'{{ column }}', {{ column }}{{ ", " if not loop.last }}
        {%- endfor -%}
    ), struct({{ order_columns | join(', ') }}))
{%- endmacro %}

{% macro duckdb__row_of(columns, order_columns, extreme) -%}
    arg_{{ extreme }}(struct_pack({{ columns | join(', ') }}), row({{ order_columns | join(', ') }}))
{%- endmacro %}
