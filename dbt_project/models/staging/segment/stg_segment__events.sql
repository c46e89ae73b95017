-- Product events, one row per message_id (the earliest delivery wins), with the event time
-- corrected for device clock skew the way Segment computes `timestamp`.
with

source as (

    select * from {{ source('segment', 'events') }}

),

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
        case
            when sent_at is not null and original_timestamp is not null
                then {{ dbt.dateadd(
                    'millisecond',
                    '-1 * ' ~ dbt.datediff('original_timestamp', 'sent_at', 'millisecond'),
                    'received_at') }}
            else received_at
        end as event_at,
        properties,
        traits,
        context,
        {{ json_text('context', '$.page.url') }} as page_url,
        {{ json_text('properties', '$.path') }} as page_path,
        cast({{ json_text('properties', '$.load_time_ms') }} as double) as page_load_ms,
        {{ json_text('context', '$.device.type') }} as device_type,
        {{ json_text('context', '$.location.country') }} as country,
        {{ json_text('context', '$.campaign.source') }} as utm_source,
        {{ json_text('context', '$.campaign.medium') }} as utm_medium,
        {{ json_text('context', '$.campaign.name') }} as utm_campaign,
        {{ json_text('context', '$.page.referrer') }} as referrer,
        source_file,
        source_line,
        _dlt_load_id as load_id,
        row_number() over (
            partition by message_id order by received_at, source_file, source_line
        ) as delivery_number,
        count(*) over (partition by message_id) as deliveries

    from source

),

flagged as (

    select
        *,
        event_at > {{ dbt.dateadd('minute', var('clock_skew_limit_minutes'), 'received_at') }}
            as is_future_dated
    from renamed

)

select * from flagged
where delivery_number = 1
