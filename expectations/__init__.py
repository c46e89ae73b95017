"""Data-quality suites (Great Expectations 1.x) run as Dagster asset checks.

Not built yet: schema drift, volume baselines and freshness checks are the next data-quality
work. Today the checks that exist are dbt's tests (surfaced as Dagster asset checks) and the
load reconciliation in orchestration/defs/ingestion/reconcile.py.
"""
