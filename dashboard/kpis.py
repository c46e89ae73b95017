"""The KPIs the dashboard shows: which mart column holds each, how to print it, and which way
is better. Formulas are not here: every value is read from a mart (docs/metrics.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Kpi:
    column: str
    label: str
    fmt: str
    higher_is_better: bool
    small_sample_flag: str | None = None  # the mart's column saying the sample is too small

    def show(self, value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        return self.fmt.format(value)

    def change(self, value, before) -> str | None:
        """value − before, signed, in the KPI's unit (percentage points for a percentage)."""
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (value, before)):
            return None
        unit = self.fmt.split("}", 1)[1].replace("%", " pp")
        digits = self.fmt.split(".", 1)[1][0] if "." in self.fmt else "0"
        return f"{value - before:+,.{digits}f}{unit}"


KPIS = {
    k.column: k
    for k in (
        Kpi("conversion_rate_pct", "Conversion", "{:.2f}%", True),
        Kpi("p75_page_load_ms", "p75 page load", "{:,.0f} ms", False),
        Kpi("error_session_rate_pct", "Sessions with an error", "{:.2f}%", False),
        Kpi("nps", "NPS", "{:+.1f}", True, "nps_sample_too_small"),
        Kpi("csat_pct", "CSAT", "{:.1f}%", True, "csat_sample_too_small"),
        Kpi("tickets_created", "Tickets", "{:,.0f}", False),
        Kpi("median_first_reply_minutes", "Median first reply", "{:,.0f} min", False),
        Kpi("sessions", "Sessions", "{:,.0f}", True),
        Kpi("active_users", "Active users", "{:,.0f}", True),
        Kpi("bounce_rate_pct", "Bounce rate", "{:.1f}%", False),
    )
}
# The Overview's tiles, in order.
TILES = ("conversion_rate_pct", "p75_page_load_ms", "error_session_rate_pct", "nps", "csat_pct",
         "tickets_created", "median_first_reply_minutes")  # fmt: skip

# An alert rule's metric (alerts/metrics.py) -> the KPI column that shows it.
ALERT_METRIC_KPI = {
    "conversion_rate": "conversion_rate_pct",
    "error_rate": "error_session_rate_pct",
    "bounce_rate": "bounce_rate_pct",
    "p75_page_load_ms": "p75_page_load_ms",
    "csat": "csat_pct",
    "nps": "nps",
    "ticket_volume": "tickets_created",
    "first_reply_minutes": "median_first_reply_minutes",
}
