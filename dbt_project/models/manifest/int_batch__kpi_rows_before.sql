-- Snapshot of the KPI input rows the batch is about to change, taken before the marts are
-- rebuilt: the rows of the batch's persons from each one's rebuild_from_at on (earlier rows do not
-- change), and all feedback, ticket and response rows (few). Marker rows record which persons
-- and from when ('persons', row_at = rebuild_from_at) and that the whole families ('captured')
-- were taken. int_batch__changed_periods compares, for each person, the earliest snapshot of
-- each stretch of time with the rebuilt rows; the rows are deleted once the KPI marts have used
-- them (on-run-end).
-- The marts are read as the before_batch sources: they are downstream of this model.
{{ config(materialized='incremental', incremental_strategy='append', tags=['hourly_batch']) }}
{%- set before = kpi_input_relations_before() %}
{%- set persons = "select person_id, rebuild_from_at from " ~ ref('int_batch__persons') %}
{%- set captured_at = run_started_literal() %}

{% if is_incremental() and before is not none %}
select {{ captured_at }} as captured_at, rows.*
from (
    {{ kpi_input_rows(before, persons, 'person', batch_rebuild_bound()) }}
    union all
    {{ kpi_input_rows(before, persons, 'whole') }}
    union all
    select 'persons', person_id, cast(null as {{ dbt.type_timestamp() }}), rebuild_from_at,
        cast(null as {{ dbt.type_string() }})
    from ({{ persons }}) as batch_persons
    union all
    select 'captured', cast(null as {{ dbt.type_string() }}), cast(null as {{ dbt.type_timestamp() }}),
        cast(null as {{ dbt.type_timestamp() }}), cast(null as {{ dbt.type_string() }})
) as rows
{% else %}
-- First build or full refresh: the KPI marts are built whole, nothing to compare with.
select
    {{ captured_at }} as captured_at,
    cast(null as {{ dbt.type_string() }}) as family,
    cast(null as {{ dbt.type_string() }}) as person_id,
    cast(null as {{ dbt.type_timestamp() }}) as period_hour,
    cast(null as {{ dbt.type_timestamp() }}) as row_at,
    cast(null as {{ dbt.type_string() }}) as row_hash
where 1 = 0
{% endif %}
