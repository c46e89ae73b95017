{#- Micro-batches: how an incremental run knows what changed.

    A batch is the set of dlt loads that completed (raw._dlt_loads, status 0) and that no
    finished dbt run has processed yet (ops.processed_loads). Every incremental model rebuilds
    exactly the keys those loads touch (messages, anonymous ids, persons; see models/manifest),
    so re-running a batch, or running several at once, gives the same tables.

    A window widens a batch for repairs and backfills (Dagster passes a partition's window as
    --event-time-start / --event-time-end; see batch_window): every event in that window, its
    persons and its KPI periods are rebuilt, whatever load brought them.

    The loads of a batch are recorded only when every model tagged `hourly_batch` succeeded in
    the run, and only then are the batch's persons forgotten (ops.pending_persons: which rows
    the run rebuilds, decided from the tables as they were before it); the KPI row snapshots
    (int_batch__kpi_rows_before) are cleared only when every model tagged `kpi_batch` succeeded. A failed or partial run therefore leaves the batch in place and
    the next run repeats it. -#}

{% macro batch_setup() %}
    {%- set tables -%}
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
        changed_at {{ dbt.type_timestamp() }},
        rebuilt_from_at {{ dbt.type_timestamp() }}
    );
    {#- warehouses created before rebuilt_from_at existed (DuckDB / Postgres syntax) #}
    alter table ops.person_changes add column if not exists rebuilt_from_at {{ dbt.type_timestamp() }};
    create table if not exists ops.pending_persons (
        person_id {{ dbt.type_string() }},
        rebuild_from_at {{ dbt.type_timestamp() }},
        invocation_id {{ dbt.type_string() }},
        recorded_at {{ dbt.type_timestamp() }}
    )
    {%- endset -%}
    {%- if execute -%}
        {%- do run_query(tables) -%}
        {{ person_change_seq_setup() }}
    {%- endif -%}
{% endmacro %}


{#- The sequence that numbers the entries of ops.person_changes (one number per model and run).
    A warehouse whose log predates it starts the sequence after its newest entry. -#}
{% macro person_change_seq_setup() -%}
    {{ return(adapter.dispatch('person_change_seq_setup', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__person_change_seq_setup() -%}
    {%- set start = run_query("select coalesce(max(seq), 0) + 1 from ops.person_changes").rows[0][0] -%}
    create sequence if not exists ops.person_change_seq start with {{ start }}
{%- endmacro %}


{% macro next_person_change_seq() -%}
    {{ return(adapter.dispatch('next_person_change_seq', 'cx_warehouse')()) }}
{%- endmacro %}

{% macro default__next_person_change_seq() -%}
    nextval('ops.person_change_seq')
{%- endmacro %}


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
        {%- set intermediate = quoted_database() ~ '.intermediate' -%}
        {%- if _tag_complete(results, 'hourly_batch') -%}
            insert into ops.processed_loads
            select load_id, current_timestamp, '{{ invocation_id }}'
            from {{ intermediate }}.int_batch__loads;
            delete from ops.pending_persons;
        {%- endif -%}
        {%- if _tag_complete(results, 'kpi_batch') -%}
            delete from {{ intermediate }}.int_batch__kpi_rows_before
            where captured_at <= {{ run_started_literal() }};
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#- The batch: the dlt loads that completed (status 0 in raw._dlt_loads: a load that failed
    half-way is not there until dlt finishes it) and that no finished dbt run has recorded in
    ops.processed_loads. Defined here only: int_batch__loads records it for the run's other
    models, stg_segment__events stages its rows (reading sources only). -#}
{% macro batch_loads() -%}
    select loads.load_id, loads.inserted_at
    from {{ source('dlt', '_dlt_loads') }} as loads
    where loads.status = 0
        and loads.load_id not in (select load_id from {{ source('ops', 'processed_loads') }})
{%- endmacro %}


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


{#- The warehouse's database name, quoted (DuckDB names it after the file, which may be an SQL
    keyword: a file named full.duckdb). -#}
{% macro quoted_database() -%}
    {{ return(adapter.quote(target.database)) }}
{%- endmacro %}


{#- The start of this dbt run as a timestamp literal (dbt's run_started_at, UTC). -#}
{% macro run_started_literal() -%}
    {{ timestamp_literal(run_started_at) }}
{%- endmacro %}


{#- A Python datetime as an SQL timestamp literal (microseconds kept). -#}
{% macro timestamp_literal(value) -%}
    {{ return("cast('" ~ value.strftime("%Y-%m-%d %H:%M:%S.%f") ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}


{#- Whether the model `name` is built in this invocation (dbt's selected_resources). -#}
{% macro selected_in_run(name) -%}
    {{ return(('model.' ~ project_name ~ '.' ~ name) in selected_resources) }}
{%- endmacro %}


{#- `column in (the persons this batch touches)`. -#}
{% macro in_batch_persons(column) -%}
    {{ column }} in (select person_id from {{ ref('int_batch__persons') }})
{%- endmacro %}


{#- `the row belongs to a batch person and lies in the part of their history the batch rebuilds`:
    `time_column` at or after the person's rebuild_from_at (int_batch__persons; null = their
    whole history) - or, with `lookback_days`, at or after the start of the UTC day that many
    days before it (for rows that look forward in time, like funnel entries). When every batch
    person has a rebuild_from_at, the earliest of them is added as a literal bound, which lets the
    engine skip the storage blocks of older rows. -#}
{% macro in_batch_rebuild(column, time_column, lookback_days=none) -%}
    {{ rows_rebuilt_from(ref('int_batch__persons'), column, time_column, batch_rebuild_bound(), lookback_days) }}
{%- endmacro %}


{#- The same for any `persons` (a relation or a parenthesised query of person_id,
    rebuild_from_at) and `bound` (a timestamp literal, or none). The IN first: DuckDB then
    evaluates the correlated EXISTS on those persons' rows only (a delete on the stitched
    events at 30 days: 1.3 s without it, 0.04 s with it). -#}
{% macro rows_rebuilt_from(persons, column, time_column, bound, lookback_days=none) -%}
    {{ column }} in (select person_id from {{ persons }} as rebuilt_persons)
    and exists (
        select 1 from {{ persons }} as batch_person
        where batch_person.person_id = {{ column }}
            and (batch_person.rebuild_from_at is null
                 or {{ time_column }} >= {{ _rebuild_start('batch_person.rebuild_from_at', lookback_days) }})
    )
    {%- if bound %}
    and {{ time_column }} >= {{ _rebuild_start(bound, lookback_days) }}
    {%- endif %}
{%- endmacro %}


{% macro _rebuild_start(timestamp, lookback_days) -%}
    {%- if lookback_days is none -%}
    {{ timestamp }}
    {%- else -%}
    cast({{ dbt.date_trunc('day', dbt.dateadd('day', -lookback_days, timestamp)) }} as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}


{#- The earliest rebuild_from_at of the batch's persons as a timestamp literal; none when some
    person is rebuilt whole, or outside execution. -#}
{% macro batch_rebuild_bound() -%}
    {{ return(earliest_bound("select rebuild_from_at from " ~ ref('int_batch__persons'))) }}
{%- endmacro %}


{#- The earliest value of `sql` (one timestamp column) as a timestamp literal; none when a value
    is null (a whole history) or outside execution; a far future when there is no value (no row
    qualifies then, and the bound lets the engine skip every block). -#}
{% macro earliest_bound(sql) -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set row = run_query(
        "select count(*), count(bound), min(bound) from (" ~ sql ~ ") as bounds(bound)").rows[0] -%}
    {%- if row[0] == 0 -%}
        {{ return("cast('9999-12-31 00:00:00' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- endif -%}
    {%- if row[0] != row[1] -%}{{ return(none) }}{%- endif -%}
    {{ return(timestamp_literal(row[2])) }}
{%- endmacro %}



{% macro batch_rows(column, time_column, lookback_days=none) -%}
    {%- if time_column -%}
    {{ in_batch_rebuild(column, time_column, lookback_days) }}
    {%- else -%}
    {{ in_batch_persons(column) }}
    {%- endif -%}
{%- endmacro %}



{#- `bucket in (the changed periods)` for grain 'hour' or 'day'. With `time_column` (the
    timestamp the bucket is cut from), also that column from the earliest changed period's start
    on, as a literal: the same rows, but the engine skips the storage blocks of older ones (a scan
    of the page views at 30 days: the whole table without it). -#}
{% macro in_changed_periods(bucket, grain, time_column=none) -%}
    {%- if grain == 'hour' -%}
    {{ bucket }} in (select period_hour from {{ ref('int_batch__changed_periods') }})
    {%- else -%}
    {{ bucket }} in (
        select distinct cast({{ dbt.date_trunc('day', 'period_hour') }} as date)
        from {{ ref('int_batch__changed_periods') }}
    )
    {%- endif -%}
    {%- set bound = earliest_changed_start(grain) if time_column else none -%}
    {%- if bound %}
    and {{ time_column }} >= {{ bound }}
    {%- endif -%}
{%- endmacro %}


{#- The start of the earliest changed period (grain 'hour') or of its day ('day') as a timestamp
    literal; a far future when nothing changed; none outside execution. -#}
{% macro earliest_changed_start(grain='hour') -%}
    {%- set bound = earliest_bound("select period_hour from " ~ ref('int_batch__changed_periods')) -%}
    {%- if bound and grain == 'day' -%}
        {{ return(_rebuild_start(bound, 0)) }}
    {%- endif -%}
    {{ return(bound) }}
{%- endmacro %}


{#- The first day the batch changed: kpi_daily recomputes it and every later day, because churn on
    a day looks back 2 x churn_window_days (a change reaches that far forward). -#}
{% macro earliest_changed_day() -%}
    (select min(cast({{ dbt.date_trunc('day', 'period_hour') }} as date))
     from {{ ref('int_batch__changed_periods') }})
{%- endmacro %}


{#- `column` (an entry date) among the days kpi_funnel_daily recomputes. A day's funnel row changes
    when one of its entries changes - a batch person's entries are rebuilt from funnel_window_days
    before their rebuild_from_at (int_funnels__entries; the persons and times since the KPI marts
    last ran are the 'persons' markers of int_batch__kpi_rows_before) - or when its
    is_incomplete flag can flip: the days whose windows end after the newest event (the last
    funnel_window_days + 1 days) and those the mart still flags. So every day from the earliest
    of these on, plus the days of the run's window (backfills, erasure repairs); every day when a
    person was rebuilt whole. -#}
{% macro funnel_days_rebuilt(column) -%}
    {%- set start = funnel_rebuild_start() -%}
    {%- set window = batch_window() -%}
    ({{ 'true' if start is none else column ~ ' >= ' ~ start }}
    {%- if window %}
     or ({{ column }} >= cast({{ dbt.date_trunc('day', window[0]) }} as date) and {{ column }} < {{ window[1] }})
    {%- endif -%})
{%- endmacro %}


{#- The first entry day kpi_funnel_daily recomputes (see funnel_days_rebuilt) as a date literal;
    none for every day. Run when the model is rendered and again when its strategy is (before
    the strategy replaces any row), so both see the flags the mart had. -#}
{% macro funnel_rebuild_start() -%}
    {%- if not execute -%}{{ return(none) }}{%- endif -%}
    {%- set days = var('funnel_window_days') -%}
    {%- set markers = "from " ~ ref('int_batch__kpi_rows_before') ~ " where family = 'persons'" -%}
    {%- set row = run_query(
        "select (select count(*) " ~ markers ~ " and row_at is null), least("
        ~ "(select cast(" ~ dbt.date_trunc('day', dbt.dateadd('day', -days, 'min(row_at)')) ~ " as date) " ~ markers ~ "), "
        ~ "(select cast(" ~ dbt.dateadd('day', -(days + 1), dbt.date_trunc('day', 'max(event_at)')) ~ " as date) from " ~ ref('fct_events') ~ "), "
        ~ "(select min(entry_date) from " ~ this ~ " where is_incomplete))").rows[0] -%}
    {%- if row[0] > 0 -%}{{ return(none) }}{%- endif -%}
    {%- set start = row[1].strftime('%Y-%m-%d') if row[1] is not none else '9999-12-31' -%}
    {{ return("cast('" ~ start ~ "' as date)") }}
{%- endmacro %}



{#- Post-hook of the marts (dbt_project.yml): for those built by rebuild_persons
    (macros/batch/strategies.sql), which persons' rows the run replaced, for the publisher of the
    analysts' copy (publish/publisher.py), which then copies only those persons' rows (for a model
    with a time column, those at or after rebuilt_from_at; null: all). One `seq` per model and
    run, from the sequence ops.person_change_seq; a NULL person means every row changed (first
    build, full refresh). Entries older than 7 days are dropped: a publisher further behind finds
    a gap in `seq` and copies everything. -#}
{% macro record_person_changes() -%}
    {%- if config.get('schema') == 'marts' and config.get('incremental_strategy') == 'rebuild_persons' -%}
    {%- set time_column = config.get('rebuilt_from') -%}
    insert into ops.person_changes (seq, model, person_id, changed_at, rebuilt_from_at)
    select
        seq.value,
        '{{ this.identifier }}',
        {% if is_incremental() -%}
        person_id, current_timestamp,
        {{ 'rebuild_from_at' if time_column else 'cast(null as ' ~ dbt.type_timestamp() ~ ')' }}
    from {{ ref('int_batch__persons') }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }}), current_timestamp, cast(null as {{ dbt.type_timestamp() }})
    from (select 1) as everyone
        {%- endif %}
    cross join (select {{ next_person_change_seq() }} as value) as seq;
    delete from ops.person_changes
    where changed_at < {{ dbt.dateadd('day', -7, 'current_timestamp') }}
    {%- endif -%}
{%- endmacro %}


{#- `<keyword> (the rows the batch rebuilds)` in an incremental run (rebuild_persons); nothing
    otherwise. The ref is taken in every run, so that dbt sees the model's dependency on the
    batch's persons when it parses the project. -#}
{% macro only_batch_persons(column='stitched_user_id', keyword='where', time_column=none, lookback_days=none) -%}
    {%- do ref('int_batch__persons') -%}
    {%- if is_incremental() -%}
    {{ keyword }} {{ batch_rows(column, time_column, lookback_days) }}
    {%- endif -%}
{%- endmacro %}


{#- dbt wraps the model of every generic data test in this (dbt's own adds the test's `where`).
    In a scheduled run (`dbt build`, not a full refresh) the tests of the person-level models
    (strategy rebuild_persons) look at the rows of the run's persons only: each of those persons'
    rows was rebuilt whole, and every other row is as it was when an earlier run tested it, so a
    duplicate or a null can only be among them - and for a model with a time column, only among
    the rows from each person's rebuild_from_at on, the rows the batch rebuilt (with the earliest
    of those times as a literal: DuckDB then skips the older blocks of a month-long table).
    Likewise the staged events (meta batch_test_key message_id) on the messages with a delivery
    in the batch's loads. The first build's batch holds every load and person; a full refresh or `dbt test` tests whole tables. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- set meta = _batch_test_meta() -%}
    {%- set key = meta.get('batch_test_key') -%}
    {%- if key -%}
        {%- if key == 'message_id' -%}
        {#- staging: the messages with a delivery in the batch's loads (raw.events is appended load
            by load, so this reads the newest blocks only) #}
        {%- set batch_filter = key ~ " in (select message_id from " ~ source('segment', 'events')
                             ~ " where _dlt_load_id in (select load_id from (" ~ batch_loads()
                             ~ ") as batch_load_ids))" -%}
        {%- elif meta.get('batch_test_time') -%}
        {%- set persons = quoted_database() ~ ".intermediate.int_batch__persons" -%}
        {%- set batch_filter = rows_rebuilt_from(
                persons, key, meta.batch_test_time,
                earliest_bound("select rebuild_from_at from " ~ persons),
                meta.get('batch_test_lookback_days')) -%}
        {%- else -%}
        {%- set batch_filter = key ~ " in (select person_id from " ~ quoted_database()
                             ~ ".intermediate.int_batch__persons)" -%}
        {%- endif -%}
        {%- set where = batch_filter if not where else "(" ~ where ~ ") and " ~ batch_filter -%}
    {%- endif -%}
    {%- if where -%}
        {{ return("(select * from " ~ relation ~ " where " ~ where ~ ") dbt_subquery") }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{#- What a data test of a batch-built model looks at, in a scheduled `dbt build` (not a full
    refresh): batch_test_key, the key column (rebuild_persons: its person_column), and
    batch_test_time / batch_test_lookback_days (its rebuilt_from / lookback_days); empty otherwise. -#}
{% macro _batch_test_meta() -%}
    {%- if not execute or flags.WHICH != 'build' or flags.FULL_REFRESH -%}{{ return({}) }}{%- endif -%}
    {%- set node = graph.nodes.get(model.attached_node or '') -%}
    {%- if not node -%}{{ return({}) }}{%- endif -%}
    {%- if node.config.get('incremental_strategy') == 'rebuild_persons' -%}
        {{ return({'batch_test_key': node.config.get('person_column', 'stitched_user_id'),
                   'batch_test_time': node.config.get('rebuilt_from'),
                   'batch_test_lookback_days': node.config.get('lookback_days')}) }}
    {%- endif -%}
    {{ return(node.config.meta) }}
{%- endmacro %}


{#- The columns of int_identity__events_stitched (the ones the marts use, not the raw JSON),
    which int_sessions__events_sessionized carries on. -#}
{% macro stitched_columns() -%}
    {{ return([
        'message_id', 'event_type', 'event_name', 'anonymous_id', 'user_id', 'received_at',
        'event_at', 'traits', 'page_path', 'page_load_ms', 'device_type', 'os', 'browser',
        'country', 'is_bot',
        'utm_source', 'utm_medium', 'utm_campaign', 'referrer', 'deliveries', 'is_future_dated',
        'stitched_user_id', 'is_identified',
    ]) }}
{%- endmacro %}


{#- A time before any event: stands for "the whole history" where a rebuild_from_at is null. -#}
{% macro whole_history_start() -%}
    cast('1900-01-01 00:00:00' as {{ dbt.type_timestamp() }})
{%- endmacro %}
