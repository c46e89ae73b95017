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
# Fields that identify a person directly and are dropped, not hashed.
DROPPED_PERSON_FIELDS = ("name", "first_name", "last_name", "firstName", "lastName", "phone")


def hash_email(email: str | None, key: bytes) -> str | None:
    if not email:
        return None
    normalized = email.strip().lower().encode()
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()


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


def scrub_text(text: str | None, key: bytes) -> str | None:
    """Free text with emails replaced by their keyed hash and IPv4 addresses truncated."""
    if not text:
        return text
    text = EMAIL_RE.sub(lambda m: f"<email:{hash_email(m.group(0), key)[:16]}>", text)
    return IPV4_RE.sub(lambda m: f"{m.group(1)}.0", text)


def pseudonymize_person(record: dict | None, key: bytes, email_field: str = "email") -> dict | None:
    """A copy of a person object with the email hashed and direct identifiers dropped."""
    if record is None:
        return None
    out = {k: v for k, v in record.items() if k not in DROPPED_PERSON_FIELDS and k != email_field}
    out[f"{email_field}_hash"] = hash_email(record.get(email_field), key)
    return out
