-- Product events, one row per message_id (the earliest delivery wins), with the event time
-- corrected for device clock skew the way Segment computes `timestamp`.
-- Incremental: a batch re-derives every message with a delivery in the batch's loads from all of
-- that message's deliveries, so the winner does not depend on the order deliveries arrived in.
-- Only loads dlt completed count (a half-finished load's rows wait for dlt to finish it).
-- Each row carries staged_at, the start of the dbt run that (re)wrote it: a run's rows are the
-- newest blocks of the table, which int_batch__events reads by that literal. Rows are written in
-- arrival order (raw.events is appended load by load), not sorted by event time: see the end.
-- A message's staged row is replaced by its new one: the old row's event_at is one of its
-- deliveries', so never before the new row's earliest_delivery_event_at (replace_keys).
{{ config(
    materialized='incremental',
    incremental_strategy='replace_keys',
    unique_key='message_id',
    bounded_by='event_at',
    bound_column='earliest_delivery_event_at',
    replacement_partitions=['cast(event_at as date)'],
    on_schema_change='append_new_columns',
    tags=['hourly_batch'],
    meta={'batch_test_key': 'message_id'},
) }}
-- An incremental run stages the batch's loads (batch_loads: raw._dlt_loads minus the loads
-- recorded in ops.processed_loads), sources only.
-- depends_on: {{ source('ops', 'processed_loads') }}

with

completed_loads as (

    select load_id from {{ source('dlt', '_dlt_loads') }} where status = 0

),

{%- if is_incremental() %}

batch_messages as (

    select distinct message_id
    from {{ source('segment', 'events') }}
    where _dlt_load_id in (select load_id from ({{ batch_loads() }}) as batch_load_ids)

),

-- The loads holding any delivery of those messages (a narrow scan of two columns). Filtering the
-- wide scan below by load lets DuckDB skip every other load's rows (raw.events is appended load
-- by load): at 30 days of history the model's batch run went from 15.9 s to 1.25 s.
delivery_loads as (

    select distinct _dlt_load_id as load_id
    from {{ source('segment', 'events') }}
    where message_id in (select message_id from batch_messages)

),
{%- endif %}

-- The raw columns the model reads; of `context` (~440 bytes an event, most of a raw row) only the
-- fields below: the raw JSON stays in raw.events. Carried through the dedupe and written again,
-- the context was most of the model's cost: at 30 days of history (12M deliveries, 5.2 GB of
-- context) its full build took 128 s with it and 74 s without (docs/benchmarks.md).
{%- set context = json_texts('context', ['$.page.url', '$.campaign.source', '$.campaign.medium',
                                         '$.campaign.name', '$.page.referrer']) %}
source as {{ not_materialized() }} (

    select
        message_id, type, event, name, anonymous_id, user_id, group_id, previous_id,
        original_timestamp, sent_at, received_at, "timestamp", properties, traits,
        {{ context[0] }} as page_url,
        {{ context[1] }} as utm_source,
        {{ context[2] }} as utm_medium,
        {{ context[3] }} as utm_campaign,
        {{ context[4] }} as referrer,
        device_class, os, browser, country, country_source, is_bot,
        source_file, source_line, _dlt_load_id
    from {{ source('segment', 'events') }}
    -- One IN on the load: DuckDB turns its few values into a range filter on the scan (two INs
    -- on the same column leave it scanning every row group).
    where _dlt_load_id in (
        select load_id from completed_loads
        {%- if is_incremental() %}
        where load_id in (select load_id from delivery_loads)
        {%- endif %}
    )
    {%- if is_incremental() %}
        and message_id in (select message_id from batch_messages)
    {%- endif %}

),

-- Segment's event time: received_at corrected by the device clock's offset (sent_at minus
-- original_timestamp, both from the device's clock).
clocked as {{ not_materialized() }} (

    select
        *,
        case
            when sent_at is not null and original_timestamp is not null
                then {{ dbt.dateadd(
                    'millisecond',
                    '-1 * ' ~ dbt.datediff('original_timestamp', 'sent_at', 'millisecond'),
                    'received_at') }}
            else received_at
        end as event_at
    from source

),

-- Most messages have one delivery (in the 30-day benchmark world 11.88M messages in 11.99M
-- deliveries): that delivery is the message. Only the messages with more than one go through the
-- dedupe window, which sorts their deliveries with every column: sorting every message's, the
-- model's 30-day full build as plain SQL took 87.5 s, sorting the repeated ones 48.4 s
-- (docs/benchmarks.md). `source` and `clocked` are read here twice rather than buffered
-- (not_materialized).
repeated as (

    select message_id from source group by message_id having count(*) > 1

),

-- All windows over one spec, so the deliveries are sorted once: the earliest delivery wins, and
-- all of a message's deliveries give its count and the spread of their event times.
{%- set deliveries = 'partition by message_id order by received_at, source_file, source_line' %}
{%- set all_deliveries = deliveries ~ ' rows between unbounded preceding and unbounded following' %}
ranked as (

    select
        clocked.*,
        1 as delivery_number,
        1 as deliveries,
        clocked.event_at as earliest_delivery_event_at,
        clocked.event_at as latest_delivery_event_at
    from clocked
    left join repeated on clocked.message_id = repeated.message_id
    where repeated.message_id is null

    union all

    select
        *,
        row_number() over ({{ deliveries }}) as delivery_number,
        count(*) over ({{ all_deliveries }}) as deliveries,
        min(event_at) over ({{ all_deliveries }}) as earliest_delivery_event_at,
        max(event_at) over ({{ all_deliveries }}) as latest_delivery_event_at
    from clocked
    where message_id in (select message_id from repeated)

),

-- One parse of each JSON document for all the fields read from it (json_texts).
{%- set props = json_texts('properties', ['$.path', '$.load_time_ms']) %}
renamed as (

    select
        message_id,
        type as event_type,
        case when type = 'track' then event else name end as event_name,
        anonymous_id,
        user_id,
        group_id,
        previous_id,
        original_timestamp,
        sent_at,
        received_at,
        "timestamp" as segment_timestamp,
        event_at,
        properties,
        traits,
        page_url,
        {{ props[0] }} as page_path,
        cast({{ props[1] }} as double) as page_load_ms,
        -- Enriched by the loader (ingestion/events/enrich.py) from the user agent or the mobile
        -- SDK's device, and the IP / location / locale / time zone; 'unknown', never null.
        coalesce(device_class, 'unknown') as device_type,
        coalesce(os, 'unknown') as os,
        coalesce(browser, 'unknown') as browser,
        coalesce(country, 'unknown') as country,
        coalesce(country_source, 'unknown') as country_source,
        coalesce(is_bot, false) as is_bot,
        utm_source,
        utm_medium,
        utm_campaign,
        referrer,
        source_file,
        source_line,
        _dlt_load_id as load_id,
        {{ run_started_literal() }} as staged_at,
        delivery_number,
        deliveries,
        earliest_delivery_event_at,
        latest_delivery_event_at,
        event_at > {{ dbt.dateadd('minute', var('clock_skew_limit_minutes'), 'received_at') }}
            as is_future_dated

    from ranked
    where delivery_number = 1

)

-- No ORDER BY (nor in the stitched and sessionized events and fct_events, which read this order
-- on): a full build keeps raw.events' arrival order (DuckDB keeps a scan's order through
-- projections, a hash join's probe side and a union while preserve_insertion_order is on, its
-- default). The batches read these tables from a time on (event_at >= a bound), and a block is
-- skipped when its latest event_at is before the bound: in arrival order that is the latest
-- arrival, whatever late events the block also holds. On the 30-day benchmark warehouse (97
-- blocks), a read from 1 h / 24 h / 7 days before the last event touches 4 / 7 / 26 blocks,
-- against 1 / 3 / 23 sorted; the model's full build as plain SQL took 54.2 s sorted, 35.7 s not
-- (docs/benchmarks.md).
select * from renamed
