import hashlib
import hmac

from ingestion.common.pii import hash_email, pseudonymize_person, scrub_text, truncate_ip

KEY = b"k"


def test_email_hash_is_keyed_hmac_of_normalized_email():
    expected = hmac.new(KEY, b"ann@example.com", hashlib.sha256).hexdigest()
    assert hash_email("  Ann@Example.COM ", KEY) == expected
    assert hash_email("ann@example.com", b"other") != expected
    assert hash_email(None, KEY) is None


def test_ip_truncation_v4_v6_and_garbage():
    assert truncate_ip("203.0.113.77") == "203.0.113.0"
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"
    assert truncate_ip("not-an-ip") is None


def test_scrub_text_removes_emails_and_last_octets():
    text = "mail me at bob.smith+x@corp.example.org from 198.51.100.23"
    scrubbed = scrub_text(text, KEY)
    assert "bob.smith" not in scrubbed and "@corp" not in scrubbed
    assert "198.51.100.0" in scrubbed and "198.51.100.23" not in scrubbed


def test_person_keeps_traits_drops_identifiers():
    person = {"email": "a@b.co", "name": "Ann", "phone": "+1 555", "plan": "pro"}
    out = pseudonymize_person(person, KEY)
    assert out == {"plan": "pro", "email_hash": hash_email("a@b.co", KEY)}
