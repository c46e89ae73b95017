"""Enrichment against real user agents, real address blocks, and the simulated world's truth."""

import pytest

from ingestion.events.enrich import (
    agent_of_app,
    agent_of_user_agent,
    countries_of_ips,
    country_of,
)
from simulator.clients import PLACES
from tests.ingestion.helpers import query, run_feed

# (user agent, device class, OS, browser, bot) - user agents as the browsers send them.
USER_AGENTS = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "desktop", "Windows", "Chrome", False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "desktop", "Windows", "Edge", False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "desktop", "Windows", "Firefox", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", "desktop", "macOS", "Safari", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "desktop", "macOS", "Chrome", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0",
     "desktop", "macOS", "Firefox", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "mobile", "iOS", "Safari",
     False),
    ("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.1 Mobile/15E148 Safari/604.1", "tablet", "iOS", "Safari", False),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", "mobile", "Android", "Chrome", False),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", "tablet", "Android", "Chrome", False),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", "mobile", "Android",
     "Samsung Internet", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Mobile/15E148", "mobile", "iOS", "WebView (iOS)", False),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", None,
     "Googlebot", True),
    ("curl/8.5.0", "bot", None, "curl", True),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/131.0.0.0 Safari/537.36", "bot", "Linux", "HeadlessChrome", True),
]  # fmt: skip


@pytest.mark.parametrize(("ua", "device", "os_", "browser", "bot"), USER_AGENTS)
def test_user_agents(ua, device, os_, browser, bot):
    agent = agent_of_user_agent(ua)
    assert (agent.device_class, agent.browser, agent.is_bot) == (device, browser, bot)
    assert agent.os == (os_ or "unknown")


def test_mobile_sdk_devices():
    phone = agent_of_app("ios", "iPhone15,2", "iOS", "18.1", 393, 852, None)
    ipad = agent_of_app("ios", "iPad13,4", "iPadOS", "18.1", 834, 1194, None)
    pixel = agent_of_app("android", "Pixel 8", "Android", "14", 1080, 2400, 2.625)  # 411 dp
    tab = agent_of_app("android", "SM-X710", "Android", "14", 1600, 2560, 2.0)  # 800 dp
    assert [a.device_class for a in (phone, ipad, pixel, tab)] == [
        "mobile", "tablet", "mobile", "tablet"
    ]  # fmt: skip
    assert (pixel.os, pixel.os_version, pixel.browser) == ("Android", "14", "app")


def test_countries_and_their_source():
    ips = ["24.0.1.2", "86.128.4.5", "2a00:1450:4001::1", "10.1.2.3", "192.168.0.1",
           "127.0.0.1", "192.0.2.10", "198.51.100.7", "203.0.113.1", "not an ip", None]  # fmt: skip
    assert countries_of_ips(ips) == ["US", "GB", "IE"] + [None] * 8
    assert country_of("US", "DE", "fr-FR", "Asia/Tokyo") == ("US", "ip")
    assert country_of(None, "de", "fr-FR", "Asia/Tokyo") == ("DE", "location")
    assert country_of(None, None, "fr-FR", "Asia/Tokyo") == ("FR", "locale")
    assert country_of(None, None, "zh-Hant-TW", None) == ("TW", "locale")
    assert country_of(None, None, "fr", "Asia/Tokyo") == ("JP", "timezone")
    assert country_of(None, None, None, "UTC") == ("unknown", "unknown")


def test_simulated_address_blocks_are_in_their_country():
    """The simulator's IPs come from blocks the registries delegated to each country."""
    for country, (_, _, blocks) in PLACES.items():
        ips = [f"{block}.{h}.{o}" for block in blocks for h in (0, 77, 255) for o in (1, 254)]
        assert set(countries_of_ips(ips)) == {country}, country


def test_enrichment_agrees_with_the_simulated_truth(cx_env):
    run_feed("events")
    truth = cx_env["truth"]
    rows = query(
        "select anonymous_id, device_class, os, browser, country, country_source, is_bot "
        "from raw.events"
    )
    people = truth["people"]
    seen = [r for r in rows if r[0] in people]
    device = sum(r[1] == people[r[0]]["device"] for r in seen) / len(seen)
    os_ = sum(r[2] == people[r[0]]["os"] for r in seen) / len(seen)
    browser = sum(r[3] == people[r[0]]["browser"] for r in seen) / len(seen)
    country = sum(r[4] == people[r[0]]["country"] for r in seen) / len(seen)
    assert device >= 0.99 and os_ >= 0.99 and browser >= 0.99, (device, os_, browser)
    assert country >= 0.95, country
    assert {r[5] for r in seen} == {"ip"}  # every simulated event has a public IP
    # Crawlers are flagged; no person is.
    bots = {r[0] for r in rows if r[6]}
    assert bots == set(truth["bots"])
    bot_messages = query("select count(distinct message_id) from raw.events where is_bot")
    assert bot_messages[0][0] == truth["totals"]["bot_events"]
