"""Real receivers on localhost for the alert channels: an HTTP server that records the JSON
posted to it (Slack's incoming webhook and the generic webhook speak the same: POST JSON, 2xx),
and a minimal SMTP server that speaks the protocol smtplib uses and records each message."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Http(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server = self.server
        server.attempts.append(self.path)
        if server.fail_next > 0:  # a flaky receiver: the first calls fail
            server.fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        server.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Smtp(socketserver.StreamRequestHandler):
    def handle(self):
        self._say("220 localhost test SMTP")
        while True:
            line = self.rfile.readline().decode().rstrip("\r\n")
            verb = line.split(" ")[0].upper()
            if not line or verb == "QUIT":
                self._say("221 bye")
                return
            if verb in ("EHLO", "HELO"):
                self._say("250 localhost")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 end with <CRLF>.<CRLF>")
                lines = []
                while (data := self.rfile.readline().decode()) not in (".\r\n", ".\n", ""):
                    lines.append(data[1:] if data.startswith("..") else data)
                self.server.messages.append(
                    email.message_from_string("".join(lines), policy=email.policy.default)
                )
                self._say("250 queued")
            else:
                self._say("502 not implemented")

    def _say(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())


@pytest.fixture
def receivers(monkeypatch):
    """Start both servers and point the shipped channels at them (env, as in production)."""
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
    http.received, http.attempts, http.fail_next = [], [], 0
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.daemon_threads = True
    smtp.messages = []
    for server in (http, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    monkeypatch.setenv("CX_ALERT_SLACK_WEBHOOK_URL", f"{base}/slack")
    monkeypatch.setenv("CX_ALERT_WEBHOOK_URL", f"{base}/hook")
    monkeypatch.setenv("CX_ALERT_EMAIL_TO", "oncall@example.com")
    monkeypatch.setenv("CX_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CX_SMTP_PORT", str(smtp.server_address[1]))
    monkeypatch.setenv("CX_ALERT_RETRY_SECONDS", "0.05")
    yield http, smtp
    http.shutdown()
    smtp.shutdown()
