-- The funnel by entry day, overall and by segment: people per step, step-to-step and overall
-- conversion, median minutes between steps. A day's row counts the people whose funnel entry
-- (step 1) fell on that day; their later steps may fall on later days, within the window.
-- Incremental: a run recomputes the entry days a batch can have changed (funnel_days_rebuilt:
-- the last funnel_window_days + 1 days and those before the batch persons' changes), not the
-- whole history.
{{ config(
    materialized='incremental',
    incremental_strategy='rebuild_periods',
    period_column='entry_date',
    periods='funnel_days',
    tags=['kpi_batch'],
) }}
-- depends_on: {{ ref('int_batch__kpi_rows_before') }}
{%- set n_steps = var('funnel_steps') | length %}
{%- set segments = {
    'device': 'device_type', 'os': 'os', 'browser': 'browser', 'country': 'country',
    'plan': 'plan', 'first_touch_source': 'first_touch_source'} %}
with

entries as (

    select
        entries.entry_date,
        entries.device_type,
        entries.os,
        entries.browser,
        entries.country,
        entries.plan,
        users.first_touch_source,
        entries.window_end_at,
        {% for k in range(1, n_steps + 1) -%}
        entries.step_{{ k }}_at{{ "," if not loop.last }}
        {% endfor %}
    from {{ ref('int_funnels__entries') }} as entries
    left join {{ ref('dim_users') }} as users
        on entries.stitched_user_id = users.stitched_user_id
    {%- if is_incremental() %}
    where {{ funnel_days_rebuilt('entries.entry_date') }}
    {%- endif %}

),

segmented as (

    select 'overall' as segment_type, 'all' as segment_value, entries.* from entries
    {% for segment_type, column in segments.items() %}
    union all
    select
        '{{ segment_type }}' as segment_type,
        coalesce({{ column }}, 'unknown') as segment_value,
        entries.*
    from entries
    {% endfor %}

)

select
    entry_date,
    segment_type,
    segment_value,
    {% for k in range(1, n_steps + 1) -%}
    cast(count(step_{{ k }}_at) as {{ dbt.type_bigint() }}) as step_{{ k }}_users,
    {% endfor -%}
    {% for k in range(2, n_steps + 1) -%}
    cast({{ pct('count(step_' ~ k ~ '_at)', 'count(step_' ~ (k - 1) ~ '_at)') }} as {{ type_double() }})
        as step_{{ k - 1 }}_to_{{ k }}_pct,
    {% endfor -%}
    cast({{ pct('count(step_' ~ n_steps ~ '_at)', 'count(step_1_at)') }} as {{ type_double() }})
        as overall_conversion_pct,
    {% for k in range(2, n_steps + 1) -%}
    cast({{ median(dbt.datediff('step_' ~ (k - 1) ~ '_at', 'step_' ~ k ~ '_at', 'second') ~ ' / 60.0') }}
        as {{ type_double() }}) as median_minutes_{{ k - 1 }}_to_{{ k }},
    {% endfor -%}
    max(case when window_end_at <= (select max(event_at) from {{ ref('fct_events') }}) then 0 else 1 end) = 1
        as is_incomplete
from segmented
group by entry_date, segment_type, segment_value
