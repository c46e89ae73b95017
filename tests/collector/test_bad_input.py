"""Bad input at the real collector: each gets its documented status, the process stays up, and
what was acknowledged or quarantined reaches raw.events / raw.events_quarantine through the real
events loader, so messages received = events loaded + messages quarantined."""

import gzip
import json
import select
import socket
import subprocess
import time

import pytest
import requests

from tests.collector.helpers import Collector, published_lines
from tests.ingestion.helpers import query, run_feed


def _event(i: int, **extra) -> dict:
    return {"type": "track", "event": "Bad Input Test", "anonymousId": f"a-{i}",
            "messageId": f"m-{i}", "timestamp": "2026-12-01T10:00:00.000Z", **extra}  # fmt: skip


def _post(url, path="/v1/batch", body=None, auth=("wk_server", ""), headers=None, data=None):
    headers = {"Content-Type": "application/json", **(headers or {})}
    data = data if data is not None else json.dumps(body).encode()
    return requests.post(url + path, data=data, auth=auth, headers=headers, timeout=30)


def _slow_body(port: int) -> tuple[int, float]:
    """A client that sends its headers and then the body a few bytes at a time (slow loris)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Basic d2tfc2VydmVyOg==\r\nContent-Length: 5000\r\n\r\n"
        )
        try:
            for _ in range(40):
                sock.sendall(b'{"ba')
                if select.select([sock], [], [], 0.2)[0]:
                    break  # the server answered
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.settimeout(10)
        answer = sock.recv(4096)
        assert b"connection: close" in answer.lower()
    return int(answer.split(b" ", 2)[1]), time.monotonic() - started


@pytest.fixture
def collector(warehouse_env):
    with Collector(warehouse_env, CX_COLLECTOR_BODY_TIMEOUT="1") as c:
        yield c


def test_bad_input_gets_its_status_and_loses_nothing(collector):
    url = collector.url
    statuses = {}

    # Authentication: a wrong key in either place, or none, is a JSON 401.
    for name, kwargs in {
        "basic": {"auth": ("nope", "")},
        "body": {"auth": None, "body": {"batch": [_event(0)], "writeKey": "nope"}},
        "none": {"auth": None},
    }.items():
        kwargs.setdefault("body", {"batch": [_event(0)]})
        reply = _post(url, **kwargs)
        statuses[f"auth_{name}"] = reply.status_code
        assert reply.json()["code"] == "invalid_write_key" and reply.json()["success"] is False

    # A malformed envelope: 400 with a JSON body; the authenticated body is kept (quarantine).
    reply = _post(url, data=b'{"batch": [{"type": "track",')
    statuses["malformed"] = reply.status_code
    assert reply.json()["code"] == "invalid_json"
    statuses["no_batch"] = _post(url, body={"batches": []}).status_code

    # Size: a gzip bomb is refused without being inflated; so is a batch over 1 MB.
    bomb = gzip.compress(b"[" + b" " * (50 * 2**20) + b"]")
    assert len(bomb) < 100_000
    statuses["bomb"] = _post(url, data=bomb, headers={"Content-Encoding": "gzip"}).status_code
    chunked_bomb = iter([bomb[i : i + 4096] for i in range(0, len(bomb), 4096)])
    statuses["bomb_chunked"] = _post(
        url, data=chunked_bomb, headers={"Content-Encoding": "gzip"}
    ).status_code
    big = {"batch": [_event(100 + i, properties={"pad": "x" * 20_000}) for i in range(60)]}
    statuses["batch_too_big"] = _post(url, body=big).status_code

    # Per message: the bad ones are quarantined, the rest of their batch is accepted.
    mixed = [
        _event(1),
        _event(2, properties={"pad": "y" * 40_000}),  # over 32 KB
        42,
        "a string",
        {"event": "No Type", "anonymousId": "a-3", "messageId": "m-3"},
        _event(4, type="purchase"),
        _event(5),
        {**_event(6), "messageId": None},  # gets an id
    ]
    reply = _post(url, body={"batch": mixed, "sentAt": "2026-12-01T10:00:01.000Z"})
    statuses["mixed"] = reply.status_code
    assert reply.json() == {"success": True}

    # A chunked gzip body with no Content-Length (how Kotlin sends) is fine.
    gz = gzip.compress(json.dumps({"batch": [_event(7), _event(8)]}).encode())
    reply = _post(url, data=iter([gz[:50], gz[50:]]), headers={"Content-Encoding": "gzip"})
    statuses["chunked_gzip"] = reply.status_code
    # analytics.js: one message, text/plain, the write key in the body and Basic auth.
    reply = _post(url, "/v1/t", body={**_event(9), "type": None, "writeKey": "wk_web"},
                  auth=("wk_web", ""), headers={"Content-Type": "text/plain"})  # fmt: skip
    statuses["single_text_plain"] = reply.status_code
    statuses["slow_loris"], slow_seconds = _slow_body(collector.port)

    preflight = requests.options(
        url + "/v1/b",
        headers={
            "Origin": "http://shop.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },  # fmt: skip
        timeout=5,
    )
    statuses["preflight"] = preflight.status_code
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert all(h in allowed for h in ("authorization", "content-type", "x-retry-count"))
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://shop.test"
    statuses["get_batch"] = requests.get(url + "/v1/batch", timeout=5).status_code
    statuses["unknown_path"] = requests.post(url + "/v2/batch", timeout=5).status_code

    assert statuses == {
        "auth_basic": 401, "auth_body": 401, "auth_none": 401,
        "malformed": 400, "no_batch": 400,
        "bomb": 413, "bomb_chunked": 413, "batch_too_big": 413,
        "mixed": 200, "chunked_gzip": 200, "single_text_plain": 200,
        "slow_loris": 408, "preflight": 204, "get_batch": 405, "unknown_path": 404,
    }  # fmt: skip
    assert slow_seconds < 5, "the slow body was cut at the 1 s body timeout"
    assert collector.alive()
    metrics = collector.metrics()
    assert metrics["cx_collector_message_ids_filled_total"] == 1
    assert collector.stop()

    # On disk: one line per message received (the 400s' bodies included), nothing else.
    lines = published_lines(collector.data_dir / "landing")
    good = [x for x in lines if "_cx_quarantine" not in x]
    bad = sorted(x["_cx_quarantine"]["reason"] for x in lines if "_cx_quarantine" in x)
    assert sorted(x["messageId"] for x in good if x["messageId"].startswith("m-")) == [
        "m-1", "m-5", "m-7", "m-8", "m-9"
    ]  # fmt: skip
    assert len(good) == 6
    assert bad == sorted(["invalid_json", "invalid_batch", "message_too_large", "not_an_object",
                          "not_an_object", "missing_type", "unknown_type"])  # fmt: skip
    stamped = next(x for x in good if x["messageId"] == "m-1")
    assert stamped["sentAt"] == "2026-12-01T10:00:01.000Z" and stamped["projectId"] == "server"
    assert stamped["context"]["ip"] == "127.0.0.1" and "receivedAt" in stamped
    single = next(x for x in good if x["messageId"] == "m-9")
    assert single["type"] == "track" and "writeKey" not in single and single["projectId"] == "web"

    # Through the real loader: every line is an event or a quarantine row with its reason.
    run_feed("events")
    assert query("select count(*), count(distinct source_id) from raw.events")[0] == (6, 2)
    quarantined = query(
        "select reason, file, position, raw_text from raw.events_quarantine order by reason"
    )
    assert sorted(r[0] for r in quarantined) == bad
    assert all(r[1].endswith(".jsonl.gz") and r[2] >= 1 and r[3] for r in quarantined)
    assert next(r[3] for r in quarantined if r[0] == "invalid_json").startswith('{"batch"')
    read, loaded, bad_items = query(
        "select sum(items_read), sum(items_loaded), sum(items_quarantined) from raw.events_ledger"
    )[0]
    assert (read, loaded, bad_items) == (len(lines), 6, len(bad))
    accepted = metrics["cx_collector_messages_accepted_total"]
    quarantined_total = sum(
        v for k, v in metrics.items() if k.startswith("cx_collector_messages_quarantined_total")
    )
    assert (accepted, quarantined_total) == (6, len(bad))


@pytest.mark.slow
def test_serves_https_with_its_own_certificate(tmp_path, monkeypatch):
    """Mobile SDKs hard-code https: with CX_COLLECTOR_TLS_CERT/KEY the collector serves it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    collector = Collector(tmp_path, CX_COLLECTOR_TLS_CERT=str(cert), CX_COLLECTOR_TLS_KEY=str(key))
    collector.url = collector.url.replace("http://", "https://")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the helper's health probe trusts it
    with collector:
        reply = _post(collector.url, body={"batch": [_event(1)]})
        assert reply.status_code == 200 and reply.json() == {"success": True}
        with pytest.raises(requests.ConnectionError):
            requests.get(collector.url.replace("https://", "http://") + "/health", timeout=5)
    assert collector.stop()
    assert [x["messageId"] for x in published_lines(tmp_path / "landing")] == ["m-1"]
