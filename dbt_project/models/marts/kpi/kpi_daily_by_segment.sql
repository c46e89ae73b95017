-- The daily KPIs for each segment, to answer "for whom" (see macros/metrics/kpis_by_segment.sql).
-- Churn stays in kpi_daily only.
{{ kpis_by_segment('day') }}
