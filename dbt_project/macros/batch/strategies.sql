{#- The two incremental strategies of the micro-batches (dbt's custom incremental strategies:
    a model names one in config(incremental_strategy=...) and dbt calls get_incremental_<name>_sql
    with the model's new rows in a temporary relation). A model holds only its own SQL: which of
    its rows a batch replaces is the strategy's business, configured by keys in config().

    rebuild_persons: the rows of the batch's persons (int_batch__persons) are replaced by the
        model's rows. Keys: person_column (default stitched_user_id); rebuilt_from, the model's
        time column, when only the rows at or after each person's rebuild_from_at are replaced
        (none: the person's every row); lookback_days, for rows that look forward in time (funnel
        entries): from the start of the day that many days before it.
    rebuild_periods: the rows of the periods the batch changed (int_batch__changed_periods) are
        replaced. Keys: period_column; period_grain 'hour' or 'day'; periods 'changed' (default),
        'changed_and_later' (every period from the earliest changed one: kpi_daily's churn looks
        back 2 x churn_window_days) or 'funnel_days' (funnel_days_rebuilt, kpi_funnel_daily).
    replace_keys: dbt's delete+insert on unique_key (the rows whose key is among the new rows'
        are replaced), with a literal time bound when the model can give one: keys bounded_by,
        the table's time column, and bound_column, a column of the new rows that is never later
        than the bounded_by of the row it replaces. The earliest bound_column of the new rows
        then bounds the delete, and the engine skips the blocks of older rows (staging's delete at
        30 days: every message id of the month scanned without it).

    Each strategy is "replace the rows matching a predicate with the new rows", in one of two
    implementations, chosen by adapter (replace_rows):
    - delete + insert, for engines that can delete rows (DuckDB: the default here);
    - partition replacement, for engines that can only overwrite whole partitions (Spark on
      Parquet: insert_overwrite): the partitions (replacement_partitions below: by default the
      day of rebuilt_from, or the period column; none: the whole table is one partition)
      holding a replaced row or a new row are written again whole, as their kept rows plus the new ones. The var
      batch_replacement='partitions' runs this implementation on DuckDB too, which is how the
      incremental = full rebuild test proves it (tests/transform/test_microbatch_invariant.py). -#}

{% macro get_incremental_rebuild_persons_sql(arg_dict) %}
    {%- set replaced = batch_rows(config.get('person_column', 'stitched_user_id'),
                                  config.get('rebuilt_from'), config.get('lookback_days')) -%}
    {{ return(replace_rows(arg_dict, replaced)) }}
{% endmacro %}


{% macro get_incremental_rebuild_periods_sql(arg_dict) %}
    {%- set column = config.require('period_column') -%}
    {%- set periods = config.get('periods', 'changed') -%}
    {%- if periods == 'changed' -%}
        {%- set replaced = in_changed_periods(column, config.require('period_grain')) -%}
    {%- elif periods == 'changed_and_later' -%}
        {%- set replaced = column ~ ' >= ' ~ earliest_changed_day() -%}
    {%- elif periods == 'funnel_days' -%}
        {%- set replaced = funnel_days_rebuilt(column) -%}
    {%- else -%}
        {%- do exceptions.raise_compiler_error(
            "model " ~ this ~ ": config periods='" ~ periods ~ "' is not one of 'changed', "
            ~ "'changed_and_later', 'funnel_days'") -%}
    {%- endif -%}
    {{ return(replace_rows(arg_dict, replaced)) }}
{% endmacro %}


{% macro get_incremental_replace_keys_sql(arg_dict) %}
    {%- set key = config.require('unique_key') -%}
    {%- set replaced = key ~ ' in (select ' ~ key ~ ' from ' ~ arg_dict.temp_relation ~ ')' -%}
    {%- if config.get('bounded_by') -%}
        {%- set bound = earliest_bound('select ' ~ config.require('bound_column') ~ ' from '
                                       ~ arg_dict.temp_relation) -%}
        {%- if bound -%}
            {%- set replaced = replaced ~ ' and ' ~ config.get('bounded_by') ~ ' >= ' ~ bound -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(replace_rows(arg_dict, replaced)) }}
{% endmacro %}


{#- Replace the rows of target_relation matching `replaced` (SQL over its columns) with the rows
    of temp_relation. -#}
{% macro replace_rows(arg_dict, replaced) %}
    {%- if var('batch_replacement', 'native') == 'partitions' -%}
        {{ return(default__replace_rows(arg_dict, replaced)) }}
    {%- endif -%}
    {{ return(adapter.dispatch('replace_rows', 'cx_warehouse')(arg_dict, replaced)) }}
{% endmacro %}


{% macro duckdb__replace_rows(arg_dict, replaced) %}
    {%- set columns = get_quoted_csv(arg_dict.dest_columns | map(attribute='name')) -%}
    {%- set sql -%}
    delete from {{ arg_dict.target_relation }} where {{ replaced }};
    insert into {{ arg_dict.target_relation }} ({{ columns }})
    select {{ columns }} from {{ arg_dict.temp_relation }}
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}


{#- Partition replacement. The touched partitions and their new content are computed first,
    from the table as it is; overwrite_partitions then swaps them in. A replaced row's predicate
    may be null (a null person): such a row is kept, as it is by the delete above. -#}
{% macro default__replace_rows(arg_dict, replaced) %}
    {%- set target, temp = arg_dict.target_relation, arg_dict.temp_relation -%}
    {%- set columns = get_quoted_csv(arg_dict.dest_columns | map(attribute='name')) -%}
    {%- set partition_by = replacement_partitions() -%}
    {%- set partitions = [] -%}
    {%- for expression in partition_by -%}
        {%- do partitions.append(expression ~ ' as partition_' ~ loop.index) -%}
    {%- endfor -%}
    {%- set touched -%}
        select distinct {{ partitions | join(', ') if partitions else '1 as partition_1' }}
        from (
            select {{ columns }} from {{ target }} where {{ replaced }}
            union all
            select {{ columns }} from {{ temp }}
        ) as touched_rows
    {%- endset -%}
    {%- set content -%}
        select {{ columns }} from {{ target }}
        where {{ in_partitions(partition_by, touched) }} and not coalesce({{ replaced }}, false)
        union all
        select {{ columns }} from {{ temp }}
    {%- endset -%}
    {{ return(overwrite_partitions(target, columns, partition_by, touched, content)) }}
{% endmacro %}


{#- The partitions a replacement rewrites whole: config replacement_partitions (expressions over
    the model's columns) when a model sets it; else rebuild_persons' day of rebuilt_from (the
    whole table when it has none) and rebuild_periods' period_column. -#}
{% macro replacement_partitions() -%}
    {%- set explicit = config.get('replacement_partitions') -%}
    {%- if explicit is not none -%}{{ return(explicit) }}{%- endif -%}
    {%- if config.get('incremental_strategy') == 'rebuild_periods' -%}
        {{ return([config.require('period_column')]) }}
    {%- endif -%}
    {%- set rebuilt_from = config.get('rebuilt_from') -%}
    {{ return([dbt.date_trunc('day', rebuilt_from)] if rebuilt_from else []) }}
{%- endmacro %}


{#- `the row lies in one of the partitions of `touched`` (a query of partition_1, partition_2 ...);
    true when the table has no partitions. Null-safe: a null partition value is a partition. -#}
{% macro in_partitions(partition_by, touched) -%}
    {%- if not partition_by -%}
    (exists ({{ touched }}))
    {%- else -%}
    exists (
        select 1 from ({{ touched }}) as touched_partitions
        where {% for expression in partition_by -%}
            {{ 'and ' if not loop.first }}touched_partitions.partition_{{ loop.index }} is not distinct from {{ expression }}
        {% endfor %}
    )
    {%- endif -%}
{%- endmacro %}


{#- Write `content` (a query of `columns`) as the whole of the partitions listed in `touched`.
    Engines with DELETE emulate the overwrite: both queries are materialized first, because they
    read the table that is then changed. Spark's is an `insert overwrite` with dynamic partition
    overwrite (a touched partition left without rows must be dropped explicitly there). -#}
{% macro overwrite_partitions(target, columns, partition_by, touched, content) %}
    {{ return(adapter.dispatch('overwrite_partitions', 'cx_warehouse')(target, columns, partition_by, touched, content)) }}
{% endmacro %}

{% macro default__overwrite_partitions(target, columns, partition_by, touched, content) %}
    {%- set suffix = target.identifier ~ '__replacement' -%}
    {%- set sql -%}
    create temporary table {{ suffix }}_touched as {{ touched }};
    create temporary table {{ suffix }}_content as {{ content }};
    delete from {{ target }} where {{ in_partitions(partition_by, 'select * from ' ~ suffix ~ '_touched') }};
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ suffix }}_content;
    drop table {{ suffix }}_touched;
    drop table {{ suffix }}_content
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}
