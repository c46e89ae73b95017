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

first_by_person as (

    select person_id, min(captured_at) as captured_at
    from snapshots
    where family = 'persons'
    group by person_id

),

before_rows as (

    select snapshots.family, snapshots.person_id, snapshots.period_hour, snapshots.row_hash
    from snapshots
    inner join first_by_person
        on snapshots.person_id = first_by_person.person_id
        and snapshots.captured_at = first_by_person.captured_at
    where snapshots.family in ('session', 'page_view', 'order')

    union all

    select family, person_id, period_hour, row_hash
    from snapshots
    where family in ('feedback', 'ticket', 'response')
        and captured_at = (select captured_at from first_whole)

),

after_rows as (

    {{ kpi_input_rows(kpi_input_refs(), 'select person_id from first_by_person', 'person') }}

    union all

    select * from ({{ kpi_input_rows(kpi_input_refs(), none, 'whole') }}) as whole_rows
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
