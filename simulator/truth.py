"""Ground truth: what really happened in a simulated world, per UTC day.

Computed from the world's own records (true times, one record per real event), never from the
delivered files, so a test that compares the warehouse with it checks the whole pipeline.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict

from simulator.delivery import DeliveryCounts, _parse
from simulator.world import World


def _day(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).date().isoformat()


def _latest(records: list[dict], key) -> dict[object, dict]:
    latest: dict[object, dict] = {}
    for record in records:
        k = key(record)
        if k not in latest or record_updated(record) >= record_updated(latest[k]):
            latest[k] = record
    return latest


def record_updated(record: dict) -> str:
    return record.get("updated_at") or record["ticket"]["updated_at"]


def ground_truth(world: World, counts: DeliveryCounts) -> dict:
    daily: dict[str, dict] = defaultdict(
        lambda: {
            "sessions": 0,
            "converted_sessions": 0,
            "orders": 0,
            "events": 0,
            "users": set(),
            "nps_responses": 0,
            "nps_promoters": 0,
            "nps_detractors": 0,
            "csat_responses": 0,
            "csat_satisfied": 0,
            "ces_scores": [],
            "tickets_created": 0,
            "first_reply_minutes": [],
            "sessions_by_device": defaultdict(int),
        }
    )
    for session in world.sessions:
        day = daily[_day(session.start)]
        day["sessions"] += 1
        day["sessions_by_device"][session.user.device] += 1
        day["converted_sessions"] += session.converted
        day["users"].add(session.user.stitched_id)
        for event in session.events:
            daily[_day(event["_true_time"])]["events"] += 1
            if event.get("event") == "Order Completed":
                daily[_day(event["_true_time"])]["orders"] += 1
            if event.get("event") == "Survey Responded":  # in-app CES, through Segment
                daily[_day(event["_true_time"])]["ces_scores"].append(event["properties"]["score"])

    for response in _latest(world.survey_versions, lambda r: r["id"]).values():
        day = daily[_day(_parse(response["created_at"]))]
        if response["survey_type"] == "nps":
            day["nps_responses"] += 1
            day["nps_promoters"] += response["score"] >= 9
            day["nps_detractors"] += response["score"] <= 6
        elif response["survey_type"] == "csat":
            day["csat_responses"] += 1
            day["csat_satisfied"] += response["score"] >= 4

    tickets = _latest(world.ticket_versions, lambda v: v["ticket"]["id"])
    for version in tickets.values():
        day = daily[_day(_parse(version["ticket"]["created_at"]))]
        day["tickets_created"] += 1
        reply = version["metric_set"]["reply_time_in_minutes"]["calendar"]
        if reply is not None:
            day["first_reply_minutes"].append(reply)

    out = {}
    for day, d in sorted(daily.items()):
        replies = d.pop("first_reply_minutes")
        ces = d.pop("ces_scores")
        d["ces_responses"] = len(ces)
        d["ces_mean"] = round(statistics.mean(ces), 4) if ces else None
        d["active_users"] = len(d.pop("users"))
        d["sessions_by_device"] = dict(d["sessions_by_device"])
        d["nps"] = (
            round(100.0 * (d["nps_promoters"] - d["nps_detractors"]) / d["nps_responses"], 4)
            if d["nps_responses"]
            else None
        )
        d["csat"] = (
            round(100.0 * d["csat_satisfied"] / d["csat_responses"], 4)
            if d["csat_responses"]
            else None
        )
        d["median_first_reply_minutes"] = statistics.median(replies) if replies else None
        out[day] = d
    incident = world.config.incident
    return {
        "config": world.config.as_dict(),
        "delivery": asdict(counts),
        "totals": {
            "sessions": len(world.sessions),
            "users_with_sessions": len({s.user.stitched_id for s in world.sessions}),
            "survey_responses": len({r["id"] for r in world.survey_versions}),
            # In-app survey answers sent as "Survey Responded" track events (not in the feed).
            "survey_events": sum(
                e.get("event") == "Survey Responded" for s in world.sessions for e in s.events
            ),
            "tickets": len(tickets),
            "sessions_by_browser": dict(Counter(s.user.browser for s in world.sessions)),
            "bot_events": sum(len(v.events) for v in world.bot_visits),
        },
        # Who each visitor really is, to measure enrichment against (by anonymous id).
        "people": {
            u.anonymous_id: {
                "device": u.device,
                "os": u.os,
                "browser": u.browser,
                "country": u.country,
                "sdk": u.client.sdk,
            }
            for u in world.users
            if u.sessions
        },  # fmt: skip
        "bots": sorted({v.anonymous_id for v in world.bot_visits}),
        "incident": (
            {
                "start": incident.start.isoformat(),
                "end": incident.end.isoformat(),
                "device": incident.device,
            }
            if incident
            else None
        ),
        "daily": out,
    }
