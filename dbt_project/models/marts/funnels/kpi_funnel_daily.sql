-- The funnel by entry day, overall and by segment: people per step, step-to-step and overall
-- conversion, median minutes between steps. A day's row counts the people whose funnel entry
-- (step 1) fell on that day; their later steps may fall on later days, within the window.
-- Rebuilt whole on every run: it aggregates small tables (see docs/operations.md).
{{ config(tags=['kpi_batch']) }}
{%- set n_steps = var('funnel_steps') | length %}
{%- set segments = {
    'device': 'device_type', 'country': 'country', 'plan': 'plan',
    'first_touch_source': 'first_touch_source'} %}
with

entries as (

    select
        entries.*,
        plans.plan,
        users.first_touch_source
    from {{ ref('int_funnels__entries') }} as entries
    left join {{ ref('dim_users') }} as users
        on entries.stitched_user_id = users.stitched_user_id
    {{ join_plan_at('plans', 'entries.stitched_user_id', 'entries.step_1_at') }}

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
