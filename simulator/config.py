"""Parameters of a simulated CX world. Everything is seeded: the same config gives the same files."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

FUNNEL_STEPS: tuple[str, ...] = (
    "landing",
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
)
DEVICES = {"mobile": 0.55, "desktop": 0.40, "tablet": 0.05}
COUNTRIES = {"US": 0.40, "GB": 0.15, "DE": 0.12, "FR": 0.10, "IN": 0.13, "BR": 0.10}
PLANS = {"free": 0.6, "plus": 0.3, "pro": 0.1}
PERSONAS = {"browser": 0.45, "bargain_hunter": 0.30, "loyal": 0.20, "business": 0.05}
SOURCES = [
    ("google", "cpc", "winter_sale"),
    ("google", "organic", None),
    ("newsletter", "email", "weekly_digest"),
    ("facebook", "paid_social", "retargeting"),
    (None, None, None),
]


@dataclass(frozen=True)
class Incident:
    """A window in which one device's checkout pages get slower and fail more often."""

    start: dt.datetime
    hours: int = 6
    device: str = "mobile"
    latency_factor: float = 4.0

    @property
    def end(self) -> dt.datetime:
        return self.start + dt.timedelta(hours=self.hours)

    def active(self, at: dt.datetime, device: str) -> bool:
        return device == self.device and self.start <= at < self.end


@dataclass(frozen=True)
class SimConfig:
    users: int = 3000
    days: int = 14
    start: dt.date = field(default_factory=lambda: dt.date(2026, 11, 2))
    seed: int = 42
    # Feed faults, as shares of delivered events / lines.
    duplicate_share: float = 0.01
    late_session_share: float = 0.03
    max_late_hours: int = 72
    skewed_device_share: float = 0.10
    malformed_share: float = 0.0005
    unknown_event_share: float = 0.01
    new_property_from_day: int = 7
    incident_day: int | None = 9
    incident_hour: int = 14

    @property
    def start_dt(self) -> dt.datetime:
        return dt.datetime(self.start.year, self.start.month, self.start.day, tzinfo=dt.UTC)

    @property
    def end_dt(self) -> dt.datetime:
        return self.start_dt + dt.timedelta(days=self.days)

    @property
    def incident(self) -> Incident | None:
        if self.incident_day is None or self.incident_day >= self.days:
            return None
        start = self.start_dt + dt.timedelta(days=self.incident_day, hours=self.incident_hour)
        return Incident(start=start)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["start"] = self.start.isoformat()
        return out
