"""The simulated world: people, their sessions, what they did, what they said and what they asked.

`build_world` returns true facts only (true event times, one delivery per event). Feed faults
(late delivery, duplicates, skewed clocks, malformed lines) are added by `delivery.py`, so the
ground truth in `truth.py` is computed from what really happened, independently of the warehouse.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass, field

from simulator.clients import BOTS, Client, client_of, context_of, place_of
from simulator.config import (
    COUNTRIES,
    DEVICES,
    PERSONAS,
    PLANS,
    SOURCES,
    SimConfig,
)

# Drawn once per person and discarded: the OS now comes with the person's client (clients.py), and
# keeping the draw keeps every later random number, so worlds stay as they were.
OS_BY_DEVICE = {
    "mobile": ("iOS", "Android"),
    "desktop": ("Mac OS", "Windows"),
    "tablet": ("iPadOS",),
}
BASE_LOAD_MS = {"mobile": 1400.0, "desktop": 700.0, "tablet": 1100.0}
ERROR_RATE = {"mobile": 0.02, "desktop": 0.008, "tablet": 0.015}
SESSION_RATE = {"browser": 0.35, "bargain_hunter": 0.45, "loyal": 0.6, "business": 0.5}
# Minimum quiet time between two sessions of one person and the longest pause inside one.
# Both keep clear of the warehouse's 30-minute rule, so the true session count is unambiguous.
MIN_SESSION_GAP = dt.timedelta(minutes=40)
MAX_INTRA_GAP_S = 20 * 60


@dataclass
class User:
    user_id: str | None  # None for visitors who never sign up
    anonymous_id: str
    email: str | None
    name: str | None
    persona: str
    plan: str
    device: str  # true device class: desktop, mobile, tablet
    country: str  # true country (the IP may say otherwise: VPNs, travel)
    ip: str
    locale: str
    timezone: str
    source: tuple[str | None, str | None, str | None]
    signup_session: int | None  # index of the session in which they sign up; 0 = already known
    zendesk_id: int = 0
    sessions: list[Session] = field(default_factory=list)
    phone: str | None = None  # derived from the person's number: no random draw

    @property
    def stitched_id(self) -> str:
        return self.user_id or self.anonymous_id

    @property
    def client(self) -> Client:
        return client_of(self.device, self.anonymous_id)

    @property
    def os(self) -> str:
        return self.client.os

    @property
    def browser(self) -> str:
        return self.client.browser


@dataclass
class Session:
    user: User
    start: dt.datetime
    events: list[dict] = field(default_factory=list)
    reached_step: int = 0
    converted: bool = False
    errors: int = 0
    slow_checkout: bool = False


@dataclass
class World:
    config: SimConfig
    users: list[User]
    sessions: list[Session]
    survey_versions: list[dict]  # every version of every response, as the survey tool stores it
    ticket_versions: list[dict]  # every version of every ticket (with metric set and requester)
    bot_visits: list[BotVisit] = field(default_factory=list)  # crawlers: events, no people


@dataclass
class BotVisit:
    """A crawler rendering a few pages (analytics.js runs in rendering crawlers too)."""

    anonymous_id: str
    events: list[dict]


BOT_VISITS_PER_DAY = 4
BOT_ADDRESSES = ("66.249.66", "157.55.39", "34.120.0")  # Google's, Microsoft's, a cloud's


def _bot_visits(cfg: SimConfig) -> list[BotVisit]:
    """Crawler visits, from a random stream of their own (people's worlds stay the same)."""
    rng = random.Random(cfg.seed + 1)
    visits = []
    for day in range(cfg.days):
        for _ in range(BOT_VISITS_PER_DAY):
            n = rng.randrange(len(BOTS))
            clock = cfg.start_dt + dt.timedelta(days=day, seconds=rng.randint(60, 82_000))
            anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            events = []
            for _ in range(rng.randint(3, 8)):
                path = rng.choice(["/", "/products/sku-0001", "/pricing", "/checkout"])
                events.append({
                    "type": "page", "name": "Crawl", "anonymousId": anonymous_id,
                    "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "properties": {"path": path, "url": f"https://shop.example.com{path}"},
                    "context": {"ip": f"{BOT_ADDRESSES[n]}.{rng.randint(1, 254)}",
                                "userAgent": BOTS[n], "locale": "en-US", "timezone": "UTC",
                                "library": {"name": "analytics.js", "version": "npm:next-1.84.3"},
                                "page": {"url": f"https://shop.example.com{path}"}},
                    "_true_time": clock,
                })  # fmt: skip
                clock += dt.timedelta(seconds=rng.randint(1, 30))
            visits.append(BotVisit(anonymous_id, events))
    return visits


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _make_users(cfg: SimConfig, rng: random.Random) -> list[User]:
    users = []
    for n in range(cfg.users):
        device = _pick(rng, DEVICES)
        identified = rng.random() < 0.75
        known_at_start = identified and rng.random() < 0.5
        user_id = f"u{n:06d}" if identified else None
        anonymous_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        persona = _pick(rng, PERSONAS)
        plan = _pick(rng, PLANS) if identified else "free"
        rng.choice(OS_BY_DEVICE[device])  # see OS_BY_DEVICE
        country = _pick(rng, COUNTRIES)
        _, _, host, octet = (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255),
                             rng.randint(1, 254))  # fmt: skip
        locale, zone, ip = place_of(country, anonymous_id, host, octet)
        users.append(
            User(
                user_id=user_id,
                anonymous_id=anonymous_id,
                email=f"user{n}@example.com" if identified else None,
                name=f"User {n}" if identified else None,
                persona=persona,
                plan=plan,
                device=device,
                country=country,
                ip=ip,
                locale=locale,
                timezone=zone,
                source=rng.choice(SOURCES),
                signup_session=(0 if known_at_start else rng.randint(1, 3)) if identified else None,
                zendesk_id=360000000 + n,
                phone=f"+1 415 555 {n % 10000:04d}" if identified else None,
            )
        )
    return users


def _session_starts(cfg: SimConfig, rng: random.Random, user: User) -> list[dt.datetime]:
    starts: list[dt.datetime] = []
    for day in range(cfg.days):
        day_start = cfg.start_dt + dt.timedelta(days=day)
        weekend = day_start.weekday() >= 5
        rate = SESSION_RATE[user.persona] * (1.3 if weekend else 1.0)
        count = sum(1 for _ in range(3) if rng.random() < rate / 3)
        for _ in range(count):
            # Daytime-weighted hour, then a few seconds of margin from midnight so a session's
            # true day never depends on sub-second network latency.
            hour = min(23, max(0, int(rng.gauss(15, 4.5))))
            second = rng.randint(30, 3600 - 30)
            starts.append(day_start + dt.timedelta(hours=hour, seconds=second))
    starts.sort()
    spaced: list[dt.datetime] = []
    for start in starts:
        # Sessions last < 2 h, so 3 h between starts keeps sessions apart by more than 30 min.
        if spaced and start - spaced[-1] < dt.timedelta(hours=3):
            continue
        if start >= cfg.end_dt - dt.timedelta(hours=2):
            continue
        spaced.append(start)
    return spaced


class _SessionBuilder:
    """Appends the events of one session, advancing a clock by short pauses."""

    def __init__(self, cfg: SimConfig, rng: random.Random, session: Session, known: bool):
        self.cfg, self.rng, self.session, self.known = cfg, rng, session, known
        self.clock = session.start

    def _pause(self) -> None:
        self.clock += dt.timedelta(seconds=self.rng.randint(5, MAX_INTRA_GAP_S // 3))

    def _base(self, kind: str) -> dict:
        user = self.session.user
        source, medium, campaign = user.source
        context = context_of(user.client, user.locale, user.timezone, user.ip, user.anonymous_id)
        if not user.client.is_app:  # analytics.js: the page, and the campaign of a landing
            context["page"] = {"url": "https://shop.example.com/",
                               "referrer": f"https://{source}.com/" if source else ""}  # fmt: skip
            if source and not self.session.events:
                context["campaign"] = {"source": source, "medium": medium, "name": campaign}
        event = {
            "type": kind,
            "messageId": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "anonymousId": user.anonymous_id,
            "userId": user.user_id if self.known else None,
            "context": context,
            "_true_time": self.clock,
        }
        self.session.events.append(event)
        return event

    def page(self, name: str, path: str, slow: bool = False) -> float:
        """A page view (web) or a screen view (apps: screen calls with the same name)."""
        app = self.session.user.client.is_app
        event = self._base("screen" if app else "page")
        device = self.session.user.device
        load = self.rng.lognormvariate(math.log(BASE_LOAD_MS[device]), 0.35)
        if slow:
            load *= self.cfg.incident.latency_factor if self.cfg.incident else 1.0
        event["name"] = name
        if app:
            event["properties"] = {"load_time_ms": round(load, 1)}
        else:
            event["properties"] = {
                "path": path,
                "url": f"https://shop.example.com{path}",
                "title": name,
                "load_time_ms": round(load, 1),
            }
            event["context"]["page"]["url"] = f"https://shop.example.com{path}"
        self._pause()
        return load

    def track(self, name: str, **properties) -> None:
        event = self._base("track")
        event["event"] = name
        event["properties"] = properties
        self._pause()

    def identify(self) -> None:
        user = self.session.user
        self.known = True
        event = self._base("identify")
        event["userId"] = user.user_id
        event["traits"] = {
            "email": user.email,
            "name": user.name,
            "phone": user.phone,
            "plan": user.plan,
            "persona": user.persona,
            "country": user.country,
        }
        self._pause()

    def maybe_error(self, page: str, slow: bool) -> None:
        rate = ERROR_RATE[self.session.user.device] * (6 if slow else 1)
        if self.rng.random() < rate:
            self.session.errors += 1
            self.track("API Error", page=page, status=self.rng.choice([500, 502, 503, 504]))


def _play_session(cfg: SimConfig, rng: random.Random, session: Session, index: int) -> None:
    user = session.user
    known = user.signup_session is not None and index >= user.signup_session and index > 0
    known = known or user.signup_session == 0
    b = _SessionBuilder(cfg, rng, session, known)
    day = (session.start - cfg.start_dt).days
    incident = cfg.incident
    b.page("Home", "/")
    # A sign-up identifies the visitor; a known user's app identifies them on its first visit.
    if user.signup_session == index and index > 0 or user.signup_session == 0 and index == 0:
        b.identify()
    if rng.random() < cfg.unknown_event_share * 5:
        b.track(rng.choice(["Tooltip Shown", "Debug Ping", "Banner Closed"]))
    session.reached_step = 1
    if rng.random() > 0.62:
        return
    for _ in range(rng.randint(1, 3)):
        sku = f"sku-{rng.randint(1, 400):04d}"
        b.page("Product", f"/products/{sku}")
        props = {"product_id": sku, "price": round(rng.uniform(5, 250), 2), "currency": "USD"}
        if day >= cfg.new_property_from_day:
            props["recommendation_slot"] = rng.randint(1, 8)
        b.track("Product Viewed", **props)
    session.reached_step = 2
    if rng.random() > 0.40:
        return
    b.track("Product Added", product_id=f"sku-{rng.randint(1, 400):04d}", quantity=1)
    session.reached_step = 3
    if rng.random() > 0.60:
        return
    slow = bool(incident and incident.active(b.clock, user.device))
    session.slow_checkout = slow
    load = b.page("Checkout", "/checkout", slow=slow)
    b.maybe_error("/checkout", slow)
    b.track("Checkout Started", cart_value=round(rng.uniform(20, 400), 2))
    session.reached_step = 4
    p_complete = 0.72 if not slow else 0.30
    if load > 4000:
        p_complete *= 0.8
    if rng.random() < p_complete:
        b.page("Order Confirmation", "/checkout/done", slow=slow)
        b.track("Order Completed", order_id=f"o-{rng.getrandbits(40):x}", revenue=50.0)
        session.reached_step = 5
        session.converted = True


def _session_end(session: Session) -> dt.datetime:
    return session.events[-1]["_true_time"]


def _survey_versions(cfg: SimConfig, rng: random.Random, sessions: list[Session]) -> list[dict]:
    versions: list[dict] = []
    n = 0
    for s in sessions:
        user = s.user
        end = _session_end(s)
        bad = s.slow_checkout or s.errors > 0
        asks = []
        if s.reached_step >= 4 and rng.random() < 0.35:
            score = rng.choice([1, 2, 2, 3, 3, 4]) if bad else rng.choice([3, 4, 4, 5, 5, 5])
            asks.append(
                ("csat_checkout", "csat", score, {"type": "event", "name": "Checkout Started"})
            )
        if rng.random() < 0.04:
            base = 8 if user.persona == "loyal" else 7
            score = max(0, min(10, int(round(rng.gauss(base - (3 if bad else 0), 2)))))
            asks.append(("nps_relationship", "nps", score, {"type": "page", "name": "Home"}))
        for survey_id, kind, score, trigger in asks:
            n += 1
            created = end + dt.timedelta(seconds=rng.randint(30, 600))
            if created >= cfg.end_dt:
                continue
            record = {
                "id": f"r{n:07d}",
                "survey_id": survey_id,
                "survey_type": kind,
                "respondent": {
                    "user_id": user.user_id if s.events[-1]["userId"] else None,
                    "anonymous_id": user.anonymous_id,
                    "email": user.email if s.events[-1]["userId"] else None,
                },
                "score": score,
                "comment": None,
                "trigger": trigger,
                "created_at": _iso(created),
                "updated_at": _iso(created),
            }
            versions.append(record)
            if rng.random() < 0.1:  # an edit a little later: a comment added
                edited = dict(record)
                # Free text as people write it: with their phone, email and address in it.
                edited["comment"] = (
                    f"Checkout was slow. Call me on {user.phone} or write to {user.email} "
                    f"(I am on {user.ip})"
                    if bad and record["respondent"]["email"]
                    else "Checkout was slow"
                    if bad
                    else "Fine"
                )
                edited_at = created + dt.timedelta(minutes=rng.randint(5, 240))
                if edited_at < cfg.end_dt:
                    edited["updated_at"] = _iso(edited_at)
                    versions.append(edited)
    return versions


def _ticket_versions(cfg: SimConfig, rng: random.Random, sessions: list[Session]) -> list[dict]:
    versions: list[dict] = []
    ticket_id = 1000
    for s in sessions:
        user = s.user
        if user.email is None or s.events[-1]["userId"] is None:
            continue
        p = 0.02 + (0.25 if s.slow_checkout else 0) + (0.15 if s.errors else 0)
        if s.reached_step == 4:
            p += 0.05
        if rng.random() >= p:
            continue
        ticket_id += 1
        created = _session_end(s) + dt.timedelta(minutes=rng.randint(5, 120))
        reply = created + dt.timedelta(minutes=max(1, int(rng.lognormvariate(math.log(90), 0.8))))
        solved = reply + dt.timedelta(minutes=max(10, int(rng.lognormvariate(math.log(1200), 0.7))))
        reopened = rng.random() < 0.08
        subject = "Checkout is very slow" if s.slow_checkout else "Problem with my order"
        signed = f"{subject} ({user.name}, {user.phone})"  # the requester signs: PII in a field
        base = {
            "id": ticket_id,
            "url": f"https://example.zendesk.com/api/v2/tickets/{ticket_id}.json",
            "created_at": _iso(created),
            "type": "problem" if s.errors or s.slow_checkout else "question",
            "subject": signed,
            "description": f"{subject}. Reach me at {user.email} from {user.ip}.",
            "priority": "high" if s.slow_checkout else "normal",
            "requester_id": user.zendesk_id,
            "assignee_id": 9000 + rng.randint(1, 12),
            "tags": ["checkout", user.device] if s.reached_step >= 4 else [user.device],
            "via": {"channel": rng.choice(["email", "web", "chat"])},
        }
        requester = {
            "id": user.zendesk_id,
            "email": user.email,
            "name": user.name,
            "phone": user.phone,
            "external_id": user.user_id,
        }
        states = [("new", created, None, None, 0), ("open", reply, reply, None, 0)]
        if solved < cfg.end_dt:
            states.append(("solved", solved, reply, solved, 0))
            if reopened:
                again = solved + dt.timedelta(hours=rng.randint(2, 30))
                final = again + dt.timedelta(hours=rng.randint(1, 20))
                states.append(("open", again, reply, None, 1))
                states.append(("solved", final, reply, final, 1))
        rating = "bad" if s.slow_checkout else rng.choice(["good", "good", "offered"])
        for status, at, replied, solved_at, reopens in states:
            if at >= cfg.end_dt:
                break
            ticket = dict(base, status=status, updated_at=_iso(at))
            ticket["satisfaction_rating"] = {"score": rating if status == "solved" else "unoffered"}
            metrics = {
                "ticket_id": ticket_id,
                "reopens": reopens,
                "reply_time_in_minutes": {
                    "calendar": int((replied - created).total_seconds() // 60) if replied else None
                },
                "full_resolution_time_in_minutes": {
                    "calendar": int((solved_at - created).total_seconds() // 60)
                    if solved_at
                    else None
                },
                "solved_at": _iso(solved_at) if solved_at else None,
                "created_at": _iso(created),
                "updated_at": _iso(at),
            }
            versions.append({"ticket": ticket, "metric_set": metrics, "requester": requester})
    return versions


def _in_app_surveys(cfg: SimConfig, sessions: list[Session]) -> None:
    """An in-app effort survey after checkout whose tool forwards each answer to Segment: a
    "Survey Responded" track event from the app's own SDK, a minute or two after the order
    (CES 1-7, 7 = very easy). Drawn from a generator of its own, so the rest of the world is
    the same with or without it."""
    rng = random.Random(cfg.seed * 7919 + 17)
    for session in sessions:
        if not session.converted or rng.random() >= 0.3:
            continue
        b = _SessionBuilder(cfg, rng, session, known=session.events[-1]["userId"] is not None)
        b.clock = _session_end(session) + dt.timedelta(seconds=rng.randint(20, 120))
        if b.clock >= cfg.end_dt:
            continue
        bad = session.slow_checkout or session.errors > 0
        score = rng.choice([1, 2, 3, 3, 4, 5]) if bad else rng.choice([4, 5, 6, 6, 7, 7])
        comment = None
        if bad and rng.random() < 0.3:  # free text as people write it, contact details and all
            user = session.user
            comment = f"Checkout took ages. Call me on {user.phone}"
        properties = {"survey_id": "ces_checkout", "survey_type": "ces", "score": score}
        if comment:
            properties["comment"] = comment
        b.track("Survey Responded", **properties)


def build_world(cfg: SimConfig) -> World:
    rng = random.Random(cfg.seed)
    users = _make_users(cfg, rng)
    sessions: list[Session] = []
    for user in users:
        for index, start in enumerate(_session_starts(cfg, rng, user)):
            session = Session(user=user, start=start)
            _play_session(cfg, rng, session, index)
            user.sessions.append(session)
            sessions.append(session)
    sessions.sort(key=lambda s: s.start)
    survey_versions = _survey_versions(cfg, rng, sessions)
    ticket_versions = _ticket_versions(cfg, rng, sessions)
    _in_app_surveys(cfg, sessions)
    return World(
        config=cfg,
        users=users,
        sessions=sessions,
        survey_versions=survey_versions,
        ticket_versions=ticket_versions,
        bot_visits=_bot_visits(cfg),
    )
