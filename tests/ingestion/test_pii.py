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


def test_scrub_text_phones_ipv6_and_the_records_own_names():
    text = "Ann Lee here (not Ann Leeds): call +1 415 555 0123 or (415) 555-0123, from 2001:db8:abcd:12::7"
    scrubbed = scrub_text(text, KEY, names=("Ann Lee",))
    assert "Ann Lee " not in scrubbed and scrubbed.startswith("<name> here (not Ann Leeds)")
    assert "555" not in scrubbed and scrubbed.count("<phone:") == 2
    assert "2001:db8:abcd::" in scrubbed and "::7" not in scrubbed
    # the same number gives the same token; the token depends on the key
    assert scrub_text("+1 415 555 0123", KEY) == scrub_text("+1 415 555 0123", KEY)
    assert scrub_text("+1 415 555 0123", KEY) != scrub_text("+1 415 555 0123", b"other")


def test_scrub_text_leaves_dates_times_and_versions_alone():
    text = '{"ts": "2026-11-02T06:00:00Z", "at": "12:30:05", "lib": "4.1.0", "n": 1234567890}'
    assert scrub_text(text, KEY) == text


def test_scrub_text_removes_person_fields_of_raw_json():
    raw = '{"users": [{"id": 7, "name": "User 7", "phone": "+1 415 555 0007", "firstName": "A\\"b"}], "title": "Checkout", "name_of_page": "x"'
    scrubbed = scrub_text(raw, KEY)
    assert "User 7" not in scrubbed and "0007" not in scrubbed and 'A\\"b' not in scrubbed
    assert scrubbed.count('"<removed>"') == 3 and '"title": "Checkout"' in scrubbed


def test_a_quarantined_ticket_loses_its_requesters_name_and_phone():
    from ingestion.tickets.source import normalize_page

    ticket = {
        "subject": "Slow (Ann Lee, +1 415 555 0005)",
        "requester_id": 1,
        "status": "open",
        "created_at": "2026-11-05T16:26:48Z",
        "updated_at": "2026-11-05T16:26:48Z",
    }  # no id
    users = [{"id": 1, "name": "Ann Lee", "email": "ann@example.com", "phone": "+1 415 555 0005"}]
    result = normalize_page({"tickets": [ticket], "users": users}, "page-1", KEY)
    assert result.rows == [] and len(result.quarantine) == 1
    raw = result.quarantine[0]["raw_text"]
    assert "Ann Lee" not in raw and "555" not in raw and "<name>" in raw
