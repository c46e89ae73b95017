"""Dagster entry point: one Definitions object merged from the domain folders under defs/."""

import dagster as dg

from orchestration.defs import shared
from orchestration.defs.alerts import assets as alerts
from orchestration.defs.automation import jobs
from orchestration.defs.ingestion import assets as ingestion
from orchestration.defs.privacy import assets as privacy
from orchestration.defs.publish import assets as publish
from orchestration.defs.quality import checks as quality
from orchestration.defs.transform import assets as transform

defs = dg.Definitions.merge(
    shared.defs,
    ingestion.defs,
    transform.defs,
    quality.defs,
    alerts.defs,
    publish.defs,
    privacy.defs,
    jobs.defs,
)
