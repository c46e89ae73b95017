"""The data-quality checks: each builds DataFrames from DuckDB, validates them with GX suites
(gx_runner) and returns a CheckOutcome that Dagster reports and ops.dq_results stores.

What a check looks at:
- the **batch**: rows of the raw loads that dbt has not processed yet (raw._dlt_loads minus
  ops.processed_loads — the same loads the next dbt run consumes, see
  dbt_project/models/manifest/int_batch__loads.sql);
- the **window**: the hours of the run's partition (volume, freshness).

docs/data-quality.md lists every check, its severity and what to do when it fails.

One module a check kind (schema, volume, freshness, values); outcome.py holds what they share.
"""

from expectations.checks.batch import IN_BATCH, delivered, stage_batch
from expectations.checks.freshness import freshness_check
from expectations.checks.outcome import CheckOutcome, record, rules
from expectations.checks.schema import schema_check, schema_profile
from expectations.checks.values import values_check
from expectations.checks.volume import baseline_hours, hourly_counts, volume_check, volume_profile

__all__ = [
    "IN_BATCH",
    "CheckOutcome",
    "baseline_hours",
    "delivered",
    "freshness_check",
    "hourly_counts",
    "record",
    "rules",
    "schema_check",
    "schema_profile",
    "stage_batch",
    "values_check",
    "volume_check",
    "volume_profile",
]
