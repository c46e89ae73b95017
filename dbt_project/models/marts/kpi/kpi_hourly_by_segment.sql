-- The hourly KPIs for each segment (see macros/metrics/kpis_by_segment.sql).
{{ kpis_by_segment('hour') }}
