"""The event reader against hand-made files: every fault class, positions, pseudonymisation."""

import datetime as dt
import gzip
import json

import pytest

from ingestion.common.pii import hash_email
from ingestion.events.reader import EventBatchReader, LandingFile

KEY = b"reader-test-key"
NOW = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def _event(**overrides) -> dict:
    event = {
        "type": "track",
        "event": "Product Viewed",
        "messageId": "m-1",
        "anonymousId": "a-1",
        "properties": {"product_id": "sku-1"},
        "context": {"ip": "203.0.113.77", "device": {"type": "mobile"}},
        "originalTimestamp": "2026-11-02T10:00:00.000Z",
        "sentAt": "2026-11-02T10:00:05.000Z",
        "receivedAt": "2026-11-02T10:00:06.000Z",
    }
    event.update(overrides)
    return event


def _file(name: str, lines: list[str], gz: bool = True) -> LandingFile:
    data = ("\n".join(lines) + "\n").encode()
    content = gzip.compress(data) if gz else data
    return LandingFile(name=name, content=content, modified_at=NOW, size_bytes=len(content))


@pytest.fixture
def reader():
    reader = EventBatchReader(KEY)
    yield reader
    reader.close()


def test_each_fault_is_quarantined_with_its_line_and_reason(reader):
    lines = [
        json.dumps(_event(messageId="ok-1")),
        "{not json",
        "",
        "[1, 2]",
        json.dumps(_event(messageId=None)),
        json.dumps(_event(messageId=42)),
        json.dumps(_event(messageId="t-1", type=None)),
        json.dumps(_event(messageId="t-2", type="purchase")),
        json.dumps(_event(messageId="t-3", anonymousId=None)),
        json.dumps(_event(messageId="t-4", receivedAt="yesterday")),
        json.dumps(_event(messageId="t-5", event="")),
        json.dumps(_event(messageId="ok-2", type="page", event=None, name="Home")),
    ]
    result = reader.read([_file("events/a.jsonl.gz", lines)])
    got = {row["position"]: row["reason"] for row in result.quarantine.to_pylist()}
    assert got == {
        2: "invalid_json",
        3: "empty_line",
        4: "not_an_object",
        5: "missing_message_id",
        6: "missing_message_id",
        7: "missing_type",
        8: "unknown_type",
        9: "missing_identity",
        10: "invalid_received_at",
        11: "missing_event_name",
    }
    assert result.events.column("message_id").to_pylist() == ["ok-1", "ok-2"]
    assert result.events.column("source_line").to_pylist() == [1, 12]
    quarantined = result.quarantine.to_pylist()
    assert {row["raw_text"] for row in quarantined if row["position"] == 2} == {"{not json"}
    [ledger] = result.ledger
    assert (
        ledger["items_read"] == len(lines) == ledger["items_loaded"] + ledger["items_quarantined"]
    )


def test_typed_columns_match_an_independent_parse(reader):
    events = [_event(messageId=f"m-{i}", userId=f"u-{i}" if i % 2 else None) for i in range(50)]
    result = reader.read([_file("events/b.jsonl.gz", [json.dumps(e) for e in events])])
    rows = result.events.to_pylist()
    assert len(rows) == 50
    for row, event in zip(rows, events, strict=True):
        assert row["message_id"] == event["messageId"]
        assert row["user_id"] == event.get("userId")
        assert row["received_at"] == dt.datetime.fromisoformat(event["receivedAt"])
        assert json.loads(row["properties"]) == event["properties"]


def test_no_raw_email_or_ip_survives(reader):
    identify = _event(
        messageId="id-1",
        type="identify",
        event=None,
        userId="u-9",
        traits={"email": "Jane.Doe@Example.com", "name": "Jane", "plan": "pro"},
        context={"ip": "198.51.100.23", "traits": {"email": "jane.doe@example.com"}},
    )
    ipv6 = _event(messageId="v6", context={"ip": "2001:db8:abcd:12::1"})
    # The IP after nested objects, and traits after the IP, in spaced-out JSON
    ip_last = _event(
        messageId="ip-last", context={"page": {"url": "https://x/"}, "ip": "192.0.2.77"}
    )
    traits_last = _event(
        messageId="traits-last",
        context={"ip": "192.0.2.88", "traits": {"email": "late@example.com"}},
    )
    # An in-app survey's answer forwarded as a track event: people write contact details in it.
    answer = _event(
        messageId="survey-1",
        event="Survey Responded",
        properties={"survey_type": "ces", "score": 2,
                    "comment": "Too slow. Call +1 415 555 0100 or mail ann@example.net"},
    )  # fmt: skip
    broken = '{"messageId": "x", "email": "leak@example.com", "ip": "192.0.2.55", oops'
    lines = [
        json.dumps(e, indent=1).replace("\n", "")
        for e in (identify, ipv6, ip_last, traits_last, answer)
    ]
    result = reader.read([_file("events/c.jsonl.gz", [*lines, broken])])
    by_id = {row["message_id"]: row for row in result.events.to_pylist()}
    traits = json.loads(by_id["id-1"]["traits"])
    assert traits == {"plan": "pro", "email_hash": hash_email("jane.doe@example.com", KEY)}
    context = json.loads(by_id["id-1"]["context"])
    assert context["ip"] == "198.51.100.0"
    assert context["traits"] == {"email_hash": hash_email("jane.doe@example.com", KEY)}
    assert json.loads(by_id["v6"]["context"])["ip"] == "2001:db8:abcd::"
    assert json.loads(by_id["ip-last"]["context"]) == {
        "page": {"url": "https://x/"},
        "ip": "192.0.2.0",
    }
    assert json.loads(by_id["traits-last"]["context"]) == {
        "ip": "192.0.2.0",
        "traits": {"email_hash": hash_email("late@example.com", KEY)},
    }
    survey = json.loads(by_id["survey-1"]["properties"])
    assert survey["score"] == 2 and survey["comment"].startswith("Too slow. Call ")
    everything = json.dumps(result.events.to_pylist(), default=str) + json.dumps(
        result.quarantine.to_pylist(), default=str
    )
    for secret in ("Jane.Doe@Example.com", "jane.doe@example.com", "leak@example.com",
                   "late@example.com", "198.51.100.23", "192.0.2.55", "192.0.2.77", "192.0.2.88",
                   "2001:db8:abcd:12::1", "ann@example.net", "555 0100"):  # fmt: skip
        assert secret not in everything


def test_unreadable_and_uncompressed_and_crlf_files(reader):
    good = json.dumps(_event(messageId="plain"))
    corrupt = LandingFile("events/bad.jsonl.gz", b"\x1f\x8b\x08garbage", NOW, 11)
    crlf = LandingFile(
        "events/crlf.jsonl", (good.replace("plain", "crlf") + "\r\n").encode(), NOW, 1
    )
    result = reader.read([corrupt, _file("events/plain.jsonl", [good], gz=False), crlf])
    assert sorted(result.events.column("message_id").to_pylist()) == ["crlf", "plain"]
    [bad] = result.quarantine.to_pylist()
    assert (bad["file"], bad["position"], bad["reason"]) == (
        "events/bad.jsonl.gz",
        0,
        "unreadable_file",
    )
    ledger = {row["file"]: row for row in result.ledger}
    assert ledger["events/bad.jsonl.gz"]["items_quarantined"] == 1
    assert ledger["events/plain.jsonl"]["items_loaded"] == 1
