"""Pseudonymisation applied before anything is stored: keyed hashes for emails, truncated IPs.

The hash is an HMAC-SHA256 keyed by the `pii.hash_key` secret, so it is stable (joins still work:
the same email gives the same hash in events, tickets and surveys) but cannot be reversed by
hashing a list of known emails without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
IPV4_RE = re.compile(r"\b(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}\b")
# IPv6 in text: at least three groups with colons (times like 12:30:05 have no hex letters and
# only two colons; they are left alone unless they parse as an address).
IPV6_RE = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
# A person's name or phone written as a JSON field inside raw text (a quarantined line or page).
PERSON_FIELD_RE = re.compile(
    r'("(?:name|first_name|last_name|firstName|lastName|phone)"\s*:\s*)"(?:[^"\\]|\\.)*"'
)
# Phone numbers as people write them: +CC and groups, or (415) 555-0100 / 415-555-0100. Dates and
# times (2026-11-02, 12:30) do not match: the groups need a separator and three-digit groups.
PHONE_RE = re.compile(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]\d{3}[ .-]\d{4}\b")
# Fields that identify a person directly and are dropped, not hashed.
DROPPED_PERSON_FIELDS = ("name", "first_name", "last_name", "firstName", "lastName", "phone")


def keyed_hash(normalized: str, key: bytes) -> str:
    """HMAC-SHA256 of an already normalised value: the one keyed hash of the project."""
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


def hash_email(email: str | None, key: bytes) -> str | None:
    if not email:
        return None
    return keyed_hash(email.strip().lower(), key)


def truncate_ip(ip: str | None) -> str | None:
    """IPv4 to its /24, IPv6 to its /48; anything unparseable is dropped."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _keyed(kind: str, value: str, key: bytes) -> str:
    return f"<{kind}:{keyed_hash(re.sub(r'[^0-9a-z@.+]', '', value.lower()), key)[:16]}>"


def _ipv6_in_text(match: re.Match) -> str:
    truncated = truncate_ip(match.group(0))
    return match.group(0) if truncated is None or ":" not in truncated else truncated


def scrub_text(text: str | None, key: bytes, names: tuple[str | None, ...] = ()) -> str | None:
    """Free text with emails and phone numbers replaced by a keyed hash (stable: the same number
    gives the same token), IPv4 truncated to /24 and IPv6 to /48, and the `names` the record
    itself gives for the person (e.g. a ticket's requester) replaced by `<name>`; in raw JSON
    text (quarantined lines), the values of name and phone fields removed. Names the record does
    not give cannot be recognised in free text (docs/privacy.md)."""
    if not text:
        return text
    text = PERSON_FIELD_RE.sub(r'\1"<removed>"', text)
    for name in names:
        if name and len(name) > 1:
            text = re.sub(rf"\b{re.escape(name)}\b", "<name>", text, flags=re.IGNORECASE)
    text = EMAIL_RE.sub(lambda m: f"<email:{hash_email(m.group(0), key)[:16]}>", text)
    text = PHONE_RE.sub(lambda m: _keyed("phone", m.group(0), key), text)
    text = IPV6_RE.sub(_ipv6_in_text, text)
    return IPV4_RE.sub(lambda m: f"{m.group(1)}.0", text)


def pseudonymize_person(record: dict | None, key: bytes, email_field: str = "email") -> dict | None:
    """A copy of a person object with the email hashed and direct identifiers dropped."""
    if record is None:
        return None
    out = {k: v for k, v in record.items() if k not in DROPPED_PERSON_FIELDS and k != email_field}
    out[f"{email_field}_hash"] = hash_email(record.get(email_field), key)
    return out
