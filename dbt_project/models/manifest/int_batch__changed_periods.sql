-- The hours whose KPIs the batch changed: where the KPI input rows now differ from the earliest
-- snapshot taken since the KPI marts were last built (int_batch__kpi_rows_before), plus every
-- hour of the run's window (backfills and repairs). The KPI marts rebuild these hours (and the
-- days that contain them) and leave every other period as it is.
{{ config(tags=['kpi_batch']) }}
{%- set window = batch_window() %}

with

snapshots as (

    select * from {{ ref('int_batch__kpi_rows_before') }}

),

first_whole as (

    select min(captured_at) as captured_at from snapshots where family = 'captured'

),

-- Each person's snapshots, oldest first: the time from which each took the person's rows
-- (row_at of the marker; null = all) and the earliest such time of the snapshots before it.
-- A snapshot's rows before that are the person's rows as they were before any of these runs
-- (an earlier run changed the person's rows only from its own time on).
markers as (

    select
        person_id,
        captured_at,
        coalesce(row_at, {{ whole_history_start() }}) as from_at,
        min(coalesce(row_at, {{ whole_history_start() }})) over (
            partition by person_id order by captured_at
            rows between unbounded preceding and 1 preceding
        ) as covered_from_at
    from snapshots
    where family = 'persons'

),

person_bounds as (

    select person_id, min(from_at) as rebuild_from_at from markers group by person_id

),

before_rows as (

    select snapshots.family, snapshots.person_id, snapshots.period_hour, snapshots.row_hash
    from snapshots
    inner join markers
        on snapshots.person_id = markers.person_id
        and snapshots.captured_at = markers.captured_at
    where snapshots.family in ('session', 'page_view', 'order')
        and (markers.covered_from_at is null or snapshots.row_at < markers.covered_from_at)

    union all

    select family, person_id, period_hour, row_hash
    from snapshots
    where family in ('feedback', 'ticket', 'response')
        and captured_at = (select captured_at from first_whole)

),

after_rows as (

    select family, person_id, period_hour, row_hash
    from ({{ kpi_input_rows(kpi_input_refs(), 'select person_id, rebuild_from_at from person_bounds',
                            'person', earliest_bound(
                                "select row_at from " ~ ref('int_batch__kpi_rows_before')
                                ~ " where family = 'persons'")) }}) as person_rows

    union all

    select family, person_id, period_hour, row_hash
    from ({{ kpi_input_rows(kpi_input_refs(), none, 'whole') }}) as whole_rows
    where exists (select 1 from first_whole where captured_at is not null)

),

changed as (

    (select * from before_rows except all select * from after_rows)
    union all
    (select * from after_rows except all select * from before_rows)

)

select distinct period_hour from changed where period_hour is not null
{%- if window %}
union
select period_hour from ({{ hours_between(window[0], window[1]) }}) as window_hours
{%- endif %}
