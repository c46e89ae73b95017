-- Everything the loaders could not load, from all three feeds, in one place: one row per
-- quarantined line or record (a file read again, e.g. replayed after an erasure, quarantines
-- the same lines again; the first time is kept).
{%- set columns = {
    'source': dbt.type_string(), 'file': dbt.type_string(), 'position': dbt.type_bigint(),
    'reason': dbt.type_string(), 'raw_text': dbt.type_string(),
    'quarantined_at': dbt.type_timestamp(), '_dlt_load_id': dbt.type_string()} %}
with

events as ({{ source_or_empty('segment', 'events_quarantine', columns) }}),
tickets as ({{ source_or_empty('zendesk', 'tickets_quarantine', columns) }}),
surveys as ({{ source_or_empty('surveys', 'surveys_quarantine', columns) }}),

unioned as (

    {% for feed in ['events', 'tickets', 'surveys'] -%}
    select
        source,
        file,
        position,
        reason,
        raw_text,
        quarantined_at,
        _dlt_load_id as load_id
    from {{ feed }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

ranked as (

    select
        *,
        row_number() over (
            partition by source, file, position order by quarantined_at, load_id
        ) as times_seen
    from unioned

)

select source, file, position, reason, raw_text, quarantined_at, load_id
from ranked
where times_seen = 1
