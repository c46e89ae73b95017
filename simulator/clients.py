"""What each real SDK puts in `context`, for the simulator to send (docs/data-contracts.md).

Read from the SDKs' source, not from our models:
- analytics.js (@segment/analytics-next): `userAgent`, `userAgentData` (Chromium browsers only),
  `locale`, `timezone`, `page`, `campaign` (with UTM parameters), `library`; no `device`, no
  `location`. Segment's servers add `ip` from the request.
- analytics-swift (iOS): `app`, `device` {manufacturer, model, name, type: "ios"}, `os`,
  `screen` {width, height} in points, `network`, `locale`, `timezone`, `library`, `instanceId`.
- analytics-kotlin (Android): the same blocks with `device.type` "android", `screen` {density,
  height, width} in pixels and a Dalvik `userAgent`.

A person uses one client profile; its `os`, `browser` and `device` are the true values the
warehouse's enrichment should find. iPadOS Safari, which sends a Mac user agent, is left out:
no parser can tell it from a Mac (docs/data-contracts.md).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

ANALYTICS_JS = {"name": "analytics.js", "version": "npm:next-1.84.3"}
SWIFT = {"name": "analytics-swift", "version": "1.7.2"}
KOTLIN = {"name": "com.segment.analytics.kotlin.android", "version": "1.19.1"}


@dataclass(frozen=True)
class Client:
    sdk: str  # analytics.js, analytics-swift, analytics-kotlin
    os: str  # true OS family, as enrichment names it
    browser: str  # true browser family ("app" for native apps)
    user_agent: str | None = None
    chromium: bool = False  # sends userAgentData
    model: str | None = None  # apps
    os_version: str | None = None
    screen: dict | None = None
    manufacturer: str | None = None

    @property
    def is_app(self) -> bool:
        return self.sdk != "analytics.js"


def _web(os_: str, browser: str, ua: str, chromium: bool = False) -> Client:
    return Client("analytics.js", os_, browser, user_agent=ua, chromium=chromium)


_WIN = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)"
_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"
_IPAD = "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X)"
_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
_SAFARI_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
# (share within the device class, client); shares add up to 1 per class.
CLIENTS: dict[str, list[tuple[float, Client]]] = {
    "desktop": [
        (0.38, _web("Windows", "Chrome", f"{_WIN} {_WEBKIT} Chrome/131.0.0.0 Safari/537.36", True)),
        (0.12, _web("Windows", "Edge",
                    f"{_WIN} {_WEBKIT} Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", True)),
        (0.08, _web("Windows", "Firefox",
                    f"{_WIN.removesuffix(')')}; rv:133.0) Gecko/20100101 Firefox/133.0")),
        (0.20, _web("macOS", "Safari", f"{_MAC} {_SAFARI_WEBKIT} Version/18.1 Safari/605.1.15")),
        (0.17, _web("macOS", "Chrome", f"{_MAC} {_WEBKIT} Chrome/131.0.0.0 Safari/537.36", True)),
        (0.05, _web("macOS", "Firefox", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) "
                    "Gecko/20100101 Firefox/133.0")),
    ],
    "mobile": [
        (0.30, _web("iOS", "Safari",
                    f"{_IPHONE} {_SAFARI_WEBKIT} Version/18.1 Mobile/15E148 Safari/604.1")),
        (0.06, _web("iOS", "Chrome",
                    f"{_IPHONE} {_SAFARI_WEBKIT} CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")),
        (0.05, _web("iOS", "WebView (iOS)", f"{_IPHONE} {_SAFARI_WEBKIT} Mobile/15E148")),
        (0.22, _web("Android", "Chrome", "Mozilla/5.0 (Linux; Android 10; K) "
                    f"{_WEBKIT} Chrome/131.0.0.0 Mobile Safari/537.36", True)),
        (0.07, _web("Android", "Samsung Internet", "Mozilla/5.0 (Linux; Android 14; SM-S921B) "
                    f"{_WEBKIT} SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", True)),
        (0.18, Client("analytics-swift", "iOS", "app", model="iPhone15,2", os_version="18.1",
                      screen={"width": 393, "height": 852}, manufacturer="Apple")),
        (0.12, Client("analytics-kotlin", "Android", "app", model="Pixel 8", os_version="14",
                      screen={"density": 2.625, "height": 2400, "width": 1080},
                      manufacturer="Google")),
    ],
    "tablet": [
        (0.35, _web("iOS", "Chrome",
                    f"{_IPAD} {_SAFARI_WEBKIT} CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1")),
        (0.30, _web("Android", "Chrome", "Mozilla/5.0 (Linux; Android 14; SM-X710) "
                    f"{_WEBKIT} Chrome/131.0.0.0 Safari/537.36", True)),
        (0.35, Client("analytics-swift", "iPadOS", "app", model="iPad13,4", os_version="18.1",
                      screen={"width": 834, "height": 1194}, manufacturer="Apple")),
    ],
}  # fmt: skip
# Crawlers and tools as they reach a site's analytics.js (rendering crawlers run it) or the API.
BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36",
]
# Where people are: locales and time zones (what browsers and phones report), and address
# blocks the Regional Internet Registries delegated to the country (checked against iptocc in
# tests/ingestion/test_enrichment.py).
PLACES = {
    "US": (("en-US",), ("America/New_York", "America/Chicago", "America/Los_Angeles"),
           ("24.0", "23.0", "3.0")),
    "GB": (("en-GB",), ("Europe/London",), ("86.128", "51.140")),
    "DE": (("de-DE", "en-US"), ("Europe/Berlin",), ("84.128", "91.0")),
    "FR": (("fr-FR",), ("Europe/Paris",), ("90.0", "82.64")),
    "IN": (("en-IN", "en-US", "hi-IN"), ("Asia/Kolkata",), ("117.192", "122.160")),
    "BR": (("pt-BR",), ("America/Sao_Paulo",), ("189.0", "200.128")),
}  # fmt: skip
VPN_SHARE = 0.02  # people whose address is in another country (VPNs, travel)


def draw(key: str, salt: str) -> float:
    """A fixed number in [0, 1) from a person's id: adds no draw to the world's random stream."""
    return zlib.crc32(f"{salt}:{key}".encode()) / 2**32


def client_of(device: str, key: str) -> Client:
    x, upto = draw(key, "client"), 0.0
    for share, client in CLIENTS[device]:
        upto += share
        if x < upto:
            return client
    return CLIENTS[device][-1][1]


def place_of(country: str, key: str, host: int, octet: int) -> tuple[str, str, str]:
    """(locale, timezone, ip) of a person in `country`; `host`, `octet` are the world's draws."""
    locales, zones, blocks = PLACES[country]
    locale = locales[int(draw(key, "locale") * len(locales))]
    zone = zones[int(draw(key, "zone") * len(zones))]
    where = country
    if draw(key, "vpn") < VPN_SHARE:
        others = sorted(set(PLACES) - {country})
        where = others[int(draw(key, "vpn-country") * len(others))]
    block = PLACES[where][2][int(draw(key, "block") * len(PLACES[where][2]))]
    return locale, zone, f"{block}.{host}.{octet}"


def context_of(client: Client, locale: str, zone: str, ip: str, key: str) -> dict:
    """The context a client sends, as Segment's storage destination writes it (ip added)."""
    context: dict = {"ip": ip, "locale": locale, "timezone": zone}
    if not client.is_app:
        context["userAgent"] = client.user_agent
        if client.chromium:
            mobile = " Mobile" in client.user_agent
            platform = {"Windows": "Windows", "macOS": "macOS", "Android": "Android"}[client.os]
            context["userAgentData"] = {
                "brands": [{"brand": "Chromium", "version": "131"},
                           {"brand": "Not_A Brand", "version": "24"}],
                "mobile": mobile, "platform": platform,
            }  # fmt: skip
        context["library"] = dict(ANALYTICS_JS)
        return context
    platform = "ios" if client.sdk == "analytics-swift" else "android"
    context.update(
        app={"name": "Shop", "version": "5.12.0", "build": "5120", "namespace": "com.example.shop"},
        device={"manufacturer": client.manufacturer, "model": client.model, "type": platform,
                "id": f"{zlib.crc32(key.encode()):08x}"},
        os={"name": client.os, "version": client.os_version},
        screen=dict(client.screen),
        network={"wifi": draw(key, "wifi") < 0.6, "cellular": draw(key, "wifi") >= 0.6},
        library=dict(SWIFT if platform == "ios" else KOTLIN),
        instanceId=f"{zlib.crc32(('i' + key).encode()):08x}-{platform}",
    )  # fmt: skip
    if platform == "android":
        context["userAgent"] = (
            f"Dalvik/2.1.0 (Linux; U; Android {client.os_version}; {client.model} Build/AP2A.240905)"
        )
    return context
