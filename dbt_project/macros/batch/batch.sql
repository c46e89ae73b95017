{#- Micro-batches: how an incremental run knows what changed.

    A batch is the set of dlt loads that completed (raw._dlt_loads, status 0) and that no
    finished dbt run has processed yet (ops.processed_loads). Every incremental model rebuilds
    exactly the keys those loads touch (messages, anonymous ids, persons; see models/intermediate/
    batch), so re-running a batch, or running several at once, gives the same tables.

    A window widens a batch for repairs and backfills (Dagster passes a partition's window as
    --event-time-start / --event-time-end; see batch_window): every event in that window, its
    persons and its KPI periods are rebuilt, whatever load brought them.

    The loads of a batch are recorded only when every model tagged `hourly_batch` succeeded in
    the run; the KPI row snapshots (int_batch__kpi_rows_before) are cleared only when every model
    tagged `kpi_batch` succeeded. A failed or partial run therefore leaves the batch in place and
    the next run repeats it. -#}

{% macro batch_setup() %}
    create schema if not exists ops;
    create table if not exists ops.processed_loads (
        load_id {{ dbt.type_string() }},
        processed_at {{ dbt.type_timestamp() }},
        invocation_id {{ dbt.type_string() }}
    );
    create table if not exists ops.person_changes (
        seq {{ dbt.type_bigint() }},
        model {{ dbt.type_string() }},
        person_id {{ dbt.type_string() }},
        changed_at {{ dbt.type_timestamp() }}
    );
{% endmacro %}


{% macro _tag_complete(results, tag) %}
    {%- set ok = [] -%}
    {%- for result in results if result.node.resource_type == 'model' and result.status == 'success' -%}
        {%- do ok.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- set needed = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and tag in node.tags -%}
        {%- do needed.append(node.unique_id) -%}
    {%- endfor -%}
    {{ return(needed | length > 0 and (needed | reject('in', ok) | list | length) == 0) }}
{% endmacro %}


{% macro batch_finish(results) %}
    {%- if execute -%}
        {%- set intermediate = target.database ~ '.intermediate' -%}
        {%- if _tag_complete(results, 'hourly_batch') -%}
            insert into ops.processed_loads
            select load_id, current_timestamp, '{{ invocation_id }}'
            from {{ intermediate }}.int_batch__loads;
        {%- endif -%}
        {%- if _tag_complete(results, 'kpi_batch') -%}
            delete from {{ intermediate }}.int_batch__kpi_rows_before
            where captured_at <= cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }});
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#- The window a run was asked to (re)build, as SQL timestamp literals, or none: dbt's own
    --event-time-start / --event-time-end (UTC, half-open; what Dagster passes for a partition),
    else the vars window_start / window_end ('YYYY-MM-DD HH:MM:SS'). The flags are preferred:
    changing a var makes dbt re-parse the whole project (~3 s a run), a flag does not. -#}
{% macro batch_window() %}
    {%- set start = invocation_args_dict.get('event_time_start') or var('window_start', none) -%}
    {%- set end = invocation_args_dict.get('event_time_end') or var('window_end', none) -%}
    {%- if start is none or end is none -%}{{ return(none) }}{%- endif -%}
    {%- set start, end = (start | string).replace('T', ' '), (end | string).replace('T', ' ') -%}
    {{ return(("cast('" ~ start ~ "' as " ~ dbt.type_timestamp() ~ ")",
               "cast('" ~ end ~ "' as " ~ dbt.type_timestamp() ~ ")")) }}
{% endmacro %}


{#- `column in (the persons this batch touches)`. -#}
{% macro in_batch_persons(column) -%}
    {{ column }} in (select person_id from {{ ref('int_batch__persons') }})
{%- endmacro %}


{#- Pre-hook of the person-level incremental models: drop every row of the batch's persons; the
    model then appends their rebuilt rows. Nothing on a first build or a full refresh. -#}
{% macro delete_batch_persons(column='stitched_user_id') -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_batch_persons(column) }}
    {%- endif -%}
{%- endmacro %}


{#- Pre-hook of the KPI marts: drop the periods the batch changed; the model appends them again. -#}
{% macro delete_changed_periods(column, grain) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} where {{ in_changed_periods(column, grain) }}
    {%- endif -%}
{%- endmacro %}


{#- `bucket in (the changed periods)` for grain 'hour' or 'day'. -#}
{% macro in_changed_periods(bucket, grain) -%}
    {%- if grain == 'hour' -%}
    {{ bucket }} in (select period_hour from {{ ref('int_batch__changed_periods') }})
    {%- else -%}
    {{ bucket }} in (
        select distinct cast({{ dbt.date_trunc('day', 'period_hour') }} as date)
        from {{ ref('int_batch__changed_periods') }}
    )
    {%- endif -%}
{%- endmacro %}


{#- The first day the batch changed: kpi_daily recomputes it and every later day, because churn on
    a day looks back 2 x churn_window_days (a change reaches that far forward). -#}
{% macro earliest_changed_day() -%}
    (select min(cast({{ dbt.date_trunc('day', 'period_hour') }} as date))
     from {{ ref('int_batch__changed_periods') }})
{%- endmacro %}


{#- The configuration every person-level model shares: incremental, its batch persons' rows
    deleted first (pre-hook), rebuilt rows appended, the persons recorded for the publisher
    (post-hook); runs after int_batch__persons. -#}
{% macro person_incremental() -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='append',
        pre_hook="{{ delete_batch_persons() }}",
        post_hook="{{ record_person_changes() }}",
        tags=['hourly_batch'],
        meta={'batch_test_key': 'stitched_user_id'},
    ) }}
    {%- do ref('int_batch__persons') -%}
{%- endmacro %}


{#- Post-hook of the person-level marts: which persons' rows the run replaced, for the publisher
    of the analysts' copy (orchestration/publish/publisher.py), which then copies only those
    persons' rows. One `seq` per model and run; a NULL person means every row changed (first
    build, full refresh). Entries older than 7 days are dropped: a publisher further behind
    finds a gap in `seq` and copies everything. -#}
{% macro record_person_changes() -%}
    {%- if config.get('schema') == 'marts' -%}
    insert into ops.person_changes
    select
        (select coalesce(max(seq), 0) + 1 from ops.person_changes),
        '{{ this.identifier }}',
        {% if is_incremental() -%}
        person_id, current_timestamp
    from {{ ref('int_batch__persons') }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }}), current_timestamp
        {%- endif %};
    delete from ops.person_changes
    where changed_at < {{ dbt.dateadd('day', -7, 'current_timestamp') }}
    {%- endif -%}
{%- endmacro %}


{#- `<keyword> column in (the batch's persons)` in an incremental run; nothing otherwise. -#}
{% macro only_batch_persons(column='stitched_user_id', keyword='where') -%}
    {%- if is_incremental() -%}
    {{ keyword }} {{ in_batch_persons(column) }}
    {%- endif -%}
{%- endmacro %}


{#- dbt wraps the model of every generic data test in this (dbt's own adds the test's `where`).
    In a scheduled run (`dbt build`, not a full refresh) the tests of the person-level models
    (meta batch_test_key) look at the rows of the run's persons only: each of those persons'
    rows was rebuilt whole, and every other row is as it was when an earlier run tested it, so a
    duplicate or a null can only be among them. The first build's batch holds every person; a
    full refresh or `dbt test` tests whole tables. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set key = _batch_test_key() -%}
    {%- if key -%}
        {%- set persons = key ~ " in (select person_id from " ~ target.database
                          ~ ".intermediate.int_batch__persons)" -%}
        {%- set where = persons if not where else "(" ~ where ~ ") and " ~ persons -%}
    {%- endif -%}
    {%- if where -%}
        {{ return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{% macro _batch_test_key() -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH -%}{{ return(none) }}{%- endif -%}
    {%- set node = graph.nodes.get(model.attached_node or '') -%}
    {{ return(node.config.meta.get('batch_test_key') if node else none) }}
{%- endmacro %}
