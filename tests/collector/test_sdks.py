"""The real SDKs send to the real collector; the hourly job turns what they sent into people and
sessions. Expected values come from what each client reports it delivered, not from the
collector's output: segment-analytics-python and rudder-sdk-python (PyPI), @segment/analytics-node
(npm, on the machine's Node) and analytics.js (@segment/analytics-next) in headless Chromium."""

import datetime as dt
import json
import subprocess

import pytest

from orchestration.defs.automation.jobs import latest_complete_hour
from orchestration.run import run_pipeline
from tests.collector.browser import BUNDLES, CHROMIUM, run_page
from tests.collector.helpers import Collector
from tests.ingestion.helpers import query

JS_DIR = BUNDLES.parents[4]


IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
SAMSUNG = (
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
# A server forwarding its visitors' calls passes their user agent, IP and locale in `context`.
VISITORS = {
    "py": {"userAgent": IPHONE_SAFARI, "ip": "86.128.10.20", "locale": "en-GB"},  # GB block
    "rs": {"userAgent": SAMSUNG, "ip": "90.0.1.2", "locale": "fr-FR"},  # FR block
}
EXPECTED_SESSIONS = {  # device, os, browser, country of each person's session
    "u-py": ("mobile", "iOS", "Safari", "GB"),
    "u-rs": ("mobile", "Android", "Samsung Internet", "FR"),
    "u-node-1": ("unknown", "unknown", "unknown", "unknown"),  # a documentation-range IP only
    "u-browser-1": ("desktop", "Windows", "Chrome", "US"),  # loopback IP: from the locale
}  # fmt: skip


def _python_sdk(client_cls, url: str, write_key: str, person: str) -> list[str]:
    """One person's journey through a Python client (Segment's and RudderStack's share an API)."""
    errors = []
    client = client_cls(write_key=write_key, host=url, on_error=lambda e, batch: errors.append(e),
                        upload_interval=0.1, max_retries=1)  # fmt: skip
    anon, user = f"{person}-anon", f"u-{person}"
    ctx = VISITORS[person]
    calls = [
        client.page(anonymous_id=anon, name="Home", properties={"path": "/"}, context=ctx),
        client.page(anonymous_id=anon, name="Pricing", properties={"path": "/pricing"}, context=ctx),
        client.track(anonymous_id=anon, event="Checkout Started", properties={"cart_value": 20},
                     context=ctx),
        client.identify(user_id=user, anonymous_id=anon, traits={"plan": "pro"}, context=ctx),
        client.alias(previous_id=anon, user_id=user, context=ctx),
        client.group(user_id=user, group_id=f"{person}-org", traits={"name": "Org"}, context=ctx),
        client.track(user_id=user, event="Order Completed", properties={"revenue": 20},
                     context=ctx),
    ]  # fmt: skip
    client.flush()
    client.join()
    assert not errors, errors
    assert all(ok for ok, _ in calls)
    return [msg["messageId"] for _, msg in calls]


@pytest.mark.timeout(600)
@pytest.mark.slow
def test_real_sdks_reach_people_and_sessions(warehouse_env, instance, tmp_path):
    from rudderstack.analytics.client import Client as RudderClient
    from segment.analytics.client import Client as SegmentClient

    if not BUNDLES.is_dir() or not CHROMIUM:
        pytest.fail("run `make test-deps` (npm packages, Debian's chromium): `make test` does")
    sent: dict[str, list[str]] = {}
    with Collector(warehouse_env) as collector:
        sent["u-py"] = _python_sdk(SegmentClient, collector.url, "wk_server", "py")
        sent["u-rs"] = _python_sdk(RudderClient, collector.url, "wk_ios", "rs")
        node = subprocess.run(
            ["node", str(JS_DIR / "send_node.mjs"), collector.url, "wk_server"],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        node_report = json.loads(node.stdout.strip().splitlines()[-1])
        assert not node_report["failed"] and len(node_report["delivered"]) == 6
        sent["u-node-1"] = node_report["delivered"]
        page = run_page(collector.url, "wk_web", tmp_path / "chromium-profile", WINDOWS_CHROME)
        assert "error" not in page, page
        sent["u-browser-1"] = page["delivered"]
        assert len(sent["u-browser-1"]) == 5
    assert collector.stop()

    assert run_pipeline(instance, latest_complete_hour(dt.datetime.now(dt.UTC))).success

    every_id = sorted(m for ids in sent.values() for m in ids)
    assert sorted(r[0] for r in query("select message_id from raw.events")) == every_id
    tables = {r[0] for r in query("select table_name from information_schema.tables")}
    assert "events_quarantine" not in tables, "a real SDK's message was quarantined"
    # Each client's events belong to its one person, anonymous ones included, in one session.
    rows = query("select message_id, stitched_user_id, session_id from marts.fct_events")
    person = {m: p for m, p, _ in rows}
    assert {p: sorted(ids) for p, ids in sent.items()} == {
        p: sorted(m for m in every_id if person.get(m) == p) for p in sent
    }
    sessions = {}
    for _, p, s in rows:
        if s is not None:
            sessions.setdefault(p, set()).add(s)
    assert {p: len(s) for p, s in sessions.items()} == {p: 1 for p in sent}
    assert sorted(r[0] for r in query("select stitched_user_id from marts.dim_users")) == sorted(
        sent
    )
    # The source each write key stands for; no raw email or full IP stored.
    by_source = dict(query("select source_id, count(*) from raw.events group by 1"))
    assert by_source == {"server": 13, "ios": 7, "web": 5}
    text = " ".join(r[0] for r in query("select context || coalesce(traits, '') from raw.events"))
    assert "buyer@example.com" not in text and "86.128.10.20" not in text
    # Enrichment from what each client sent: the session's device, OS, browser and country.
    sessions = query(
        "select stitched_user_id, device_type, os, browser, country from marts.fct_sessions"
    )
    assert {r[0]: r[1:] for r in sessions} == EXPECTED_SESSIONS
