"""Who sent an event: device class, OS, browser, country, bot — from what SDKs actually send.

Runs in the loader before the IP is cut and the user agent is left behind, once per distinct
value in a batch (a batch holds few user agents and one IP per visitor):
- **Web** (analytics.js and other browser SDKs send `context.userAgent`, `locale`, `timezone`,
  no `device` or `location`): the user agent parsed with ua-parser and the uap-core rules
  (`ua-parser-builtins`, accelerated by `ua-parser-rs`).
- **Apps** (Swift/Kotlin/iOS/Android SDKs send `context.device.type` = `ios` / `android`, a
  platform, with `device.model`, `os` and `screen`): a phone or a tablet from the model (iPad…)
  or the screen's smallest side in density-independent pixels (>= 600 dp: a tablet).
- **Country**, first that answers: the IP in iptocc's offline table (the five Regional Internet
  Registries' delegations, refreshed nightly upstream and shipped in its wheel: upgrade the
  package to refresh; private, loopback and documentation ranges are never looked up), then
  `context.location.country`, the region of `context.locale` (`en-GB` → GB), the country of
  `context.timezone` (tzdata's zone.tab). `country_source` says which.
Unknown values are the string `unknown`, never null.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from importlib import resources

import iptocc
import pyarrow as pa
import pyarrow.compute as pc
from ua_parser import parse as parse_user_agent

UNKNOWN = "unknown"
DEVICE_CLASSES = ("desktop", "mobile", "tablet", "bot", UNKNOWN)
COUNTRY_SOURCES = ("ip", "location", "locale", "timezone", UNKNOWN)
# Clients that are not people: uap-core marks crawlers as device "Spider"; these families are
# tools and automation it parses as ordinary agents.
_TOOL_FAMILIES = {
    "curl", "Wget", "Python Requests", "Python-urllib", "Go-http-client", "Apache-HttpClient",
    "HeadlessChrome", "PhantomJS", "okhttp", "node-fetch", "axios", "Java",
}  # fmt: skip
_BOT_WORDS = re.compile(r"bot\b|crawl|spider|slurp|headless|lighthouse|pingdom", re.I)
_DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Chrome OS", "Fedora", "FreeBSD"}
_MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"}
# uap-core's names for the mobile builds of a browser: one family per browser in segments.
_BROWSER_NAMES = {
    "Mobile Safari": "Safari", "Chrome Mobile": "Chrome", "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox", "Firefox iOS": "Firefox", "Edge Mobile": "Edge",
    "Mobile Safari UI/WKWebView": "WebView (iOS)", "Chrome Mobile WebView": "WebView (Android)",
}  # fmt: skip
_OS_NAMES = {"Mac OS X": "macOS"}


@dataclass(frozen=True)
class Agent:
    device_class: str
    os: str
    os_version: str  # the major version, or unknown
    browser: str
    browser_version: str
    is_bot: bool


UNKNOWN_AGENT = Agent(UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, False)


@functools.lru_cache(maxsize=65536)
def agent_of_user_agent(user_agent: str) -> Agent:
    """Device class, OS and browser of a browser's user-agent string."""
    parsed = parse_user_agent(user_agent)
    ua, os_, device = parsed.user_agent, parsed.os, parsed.device
    family = ua.family if ua else "Other"
    os_family = os_.family if os_ else "Other"
    is_bot = bool(
        (device and device.family == "Spider")
        or family in _TOOL_FAMILIES
        or _BOT_WORDS.search(user_agent)
    )
    if is_bot:
        device_class = "bot"
    elif device and (
        device.family == "iPad"
        or "Tablet" in (device.brand or "") + device.family
        or "Kindle" in device.family
        or (os_family == "Android" and "Mobile" not in user_agent)
    ):
        device_class = "tablet"
    elif os_family in _MOBILE_OS or "Mobile" in user_agent:
        device_class = "mobile"
    elif os_family in _DESKTOP_OS:
        device_class = "desktop"
    else:
        device_class = UNKNOWN
    return Agent(
        device_class=device_class,
        os=_OS_NAMES.get(os_family, os_family) if os_family != "Other" else UNKNOWN,
        os_version=(os_.major if os_ and os_.major else UNKNOWN),
        browser=_BROWSER_NAMES.get(family, family) if family != "Other" else UNKNOWN,
        browser_version=(ua.major if ua and ua.major else UNKNOWN),
        is_bot=is_bot,
    )


def agent_of_app(
    platform: str,
    model: str | None,
    os_name: str | None,
    os_version: str | None,
    screen_width: float | None,
    screen_height: float | None,
    screen_density: float | None,
) -> Agent:
    """A native app's device from a mobile SDK's context (`device.type` ios / android)."""
    platform = platform.lower()
    if platform == "ios":
        tablet = bool(model and model.startswith("iPad")) or (os_name or "") == "iPadOS"
    else:  # Android: the smallest side in dp (Kotlin sends pixels and density)
        sides = [s for s in (screen_width, screen_height) if s]
        dp = min(sides) / (screen_density or 1.0) if len(sides) == 2 else None
        tablet = dp is not None and dp >= 600
    major = (os_version or "").split(".")[0] or UNKNOWN
    os_ = os_name or ("iOS" if platform == "ios" else "Android")
    return Agent("tablet" if tablet else "mobile", os_, major, "app", UNKNOWN, False)


def _global_ip(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_global
    except ValueError:
        return False


def countries_of_ips(ips: list[str | None]) -> list[str | None]:
    """Country codes of IP addresses (None: not public, malformed or not in the table)."""
    public = [ip for ip in ips if ip and _global_ip(ip)]
    found = dict(zip(public, iptocc.country_code(public), strict=True)) if public else {}
    return [found.get(ip) if ip else None for ip in ips]


@functools.cache
def _timezone_countries() -> dict[str, str]:
    """IANA time zone -> ISO country, from tzdata's zone.tab (one country per zone)."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    pairs = (line.split("\t") for line in text.splitlines() if line and not line.startswith("#"))
    return {fields[2]: fields[0] for fields in pairs if len(fields) >= 3}


_REGION = re.compile(r"^[a-z]{2,3}[-_](?:[A-Za-z]{4}[-_])?([A-Za-z]{2})\b")


def country_of_locale(locale: str | None) -> str | None:
    match = _REGION.match(locale or "")
    return match.group(1).upper() if match else None


def country_of(
    ip_country: str | None, location: str | None, locale: str | None, timezone: str | None
) -> tuple[str, str]:
    """(country, source): the first of IP, SDK location, locale region, time zone."""
    if ip_country:
        return ip_country, "ip"
    if location and len(location.strip()) == 2 and location.strip().isalpha():
        return location.strip().upper(), "location"
    from_locale = country_of_locale(locale)
    if from_locale:
        return from_locale, "locale"
    from_zone = _timezone_countries().get(timezone or "")
    if from_zone:
        return from_zone, "timezone"
    return UNKNOWN, UNKNOWN


ENRICHED_COLUMNS = {  # column -> Arrow type, appended to raw.events
    "device_class": pa.string(),
    "os": pa.string(),
    "os_version": pa.string(),
    "browser": pa.string(),
    "browser_version": pa.string(),
    "is_bot": pa.bool_(),
    "country": pa.string(),
    "country_source": pa.string(),
}


def agent_of_key(key: str | None) -> Agent:
    """The agent of the reader's `agent_key`: an app's context fields or a user agent."""
    if not key:
        return UNKNOWN_AGENT
    if key.startswith("app|"):
        _, platform, model, os_name, version, width, height, density = key.split("|")
        number = lambda text: float(text) if text else None  # noqa: E731
        return agent_of_app(platform, model or None, os_name or None, version or None,
                            number(width), number(height), number(density))  # fmt: skip
    return agent_of_user_agent(key)


def _by_distinct(keys: pa.ChunkedArray, describe) -> tuple[pa.Array, list]:
    """Apply `describe` once per distinct key; (index of each row's key, descriptions)."""
    distinct = pc.unique(keys)
    return pc.index_in(keys, value_set=distinct), [describe(k) for k in distinct.to_pylist()]


def enrich_events(events: pa.Table) -> pa.Table:
    """`events` with ENRICHED_COLUMNS, and without the reader's enrichment keys."""
    rows, agents = _by_distinct(events["agent_key"], agent_of_key)
    fields = {
        name: pc.take(pa.array([getattr(a, name) for a in agents], ENRICHED_COLUMNS[name]), rows)
        for name in ("device_class", "os", "os_version", "browser", "browser_version", "is_bot")
    }
    ips = pc.unique(events["client_ip"])
    ip_countries = dict(zip(ips.to_pylist(), countries_of_ips(ips.to_pylist()), strict=True))
    # One country per (IP, place) pair; a batch has about one IP per visitor.
    pairs = pc.binary_join_element_wise(
        pc.fill_null(events["client_ip"], ""), events["place_key"], "\x1f"
    )

    def place(pair: str | None) -> tuple[str, str]:
        ip, _, key = (pair or "").partition("\x1f")
        location, locale, zone = (key.split("|") + ["", "", ""])[:3]
        return country_of(ip_countries.get(ip or None), location or None, locale or None,
                          zone or None)  # fmt: skip

    rows, places = _by_distinct(pairs, place)
    fields["country"] = pc.take(pa.array([p[0] for p in places], pa.string()), rows)
    fields["country_source"] = pc.take(pa.array([p[1] for p in places], pa.string()), rows)
    events = events.drop(["agent_key", "client_ip", "place_key"])
    for name, values in fields.items():
        events = events.append_column(pa.field(name, ENRICHED_COLUMNS[name], False), values)
    return events
