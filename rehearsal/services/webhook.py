"""A local stand-in for Slack incoming webhooks and a status-page API that records every call.

  POST/PUT/PATCH /slack/...       answers 200 ``ok`` (text/plain), as Slack incoming webhooks do
  POST/PUT/PATCH /statuspage/...  answers 201 (POST) / 200 with JSON: the posted ``incident`` (or
                                  body) fields plus a generated ``id``, ``created_at`` and ``updated_at``
  other paths                     recorded too, answered 404 (so a mistyped URL is visible)
  GET /_received[?prefix=/slack]  JSON list of recorded calls: method, path, headers, body (JSON or
                                  text), time
  DELETE /_received               forget them
  PUT /_config {"fail_status": 500}  answer every later call with that status (0 or null: normal again),
                                  to rehearse a notification channel that is down

Run it with ``python -m rehearsal.services.webhook --port N`` or ``WebhookReceiver(port).start()``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    server_version = "rehearsal-webhook"
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - base class signature
        pass  # tests read /_received; access logs would only be noise

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._reply(status, json.dumps(obj).encode(), "application/json")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length else b""

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path != "/_received":
            return self._json(404, {"error": "only GET /_received is served"})
        prefix = parse_qs(url.query).get("prefix", [""])[0]
        self._json(200, [r for r in self.server.received() if r["path"].startswith(prefix)])

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/_received":
            return self._json(404, {"error": "only DELETE /_received is served"})
        self._json(200, {"cleared": self.server.clear()})

    def do_POST(self) -> None:  # noqa: N802
        self._record()

    def do_PUT(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/_config":
            try:
                config = json.loads(self._body() or b"{}")
                self.server.fail_status = int(config.get("fail_status") or 0)
            except (ValueError, TypeError, AttributeError):
                return self._json(400, {"error": 'expected JSON like {"fail_status": 500}'})
            return self._json(200, {"fail_status": self.server.fail_status})
        self._record()

    def do_PATCH(self) -> None:  # noqa: N802
        self._record()

    def _record(self) -> None:
        raw = self._body()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = text  # Slack also accepts form-encoded payload=...; keep it as text
        path = urlsplit(self.path).path
        record = {"method": self.command, "path": path, "headers": dict(self.headers.items()), "body": body,
                  "time": time.time()}
        self.server.add(record)
        if self.server.fail_status:
            return self._json(self.server.fail_status, {"error": "failure configured through /_config"})
        if path.startswith("/slack/"):
            return self._reply(200, b"ok", "text/plain; charset=utf-8")
        if path.startswith("/statuspage/"):
            fields = body.get("incident", body) if isinstance(body, dict) else {}
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["time"]))
            reply = {**(fields if isinstance(fields, dict) else {}), "id": self.server.next_id(),
                     "created_at": now, "updated_at": now}
            return self._json(201 if self.command == "POST" else 200, reply)
        self._json(404, {"error": f"no webhook at {path}; use /slack/... or /statuspage/..."})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address):
        super().__init__(address, _Handler)
        self._lock = threading.Lock()
        self._records: list[dict] = []
        self._ids = itertools.count(1)
        self.fail_status = 0

    def add(self, record: dict) -> None:
        with self._lock:
            self._records.append(record)

    def received(self) -> list[dict]:
        with self._lock:
            return list(self._records)

    def clear(self) -> int:
        with self._lock:
            count, self._records = len(self._records), []
            return count

    def next_id(self) -> str:
        with self._lock:
            return f"inc{next(self._ids):06d}"


class WebhookReceiver:
    def __init__(self, port: int = 0, host: str = "127.0.0.1"):
        self.host, self.port = host, int(port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WebhookReceiver:
        if self._server is None:
            self._server = _Server((self.host, self.port))
            self.port = self._server.server_address[1]  # port 0: the kernel picked one
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="webhook-receiver", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None

    def received(self, prefix: str = "") -> list[dict]:
        """Recorded calls (in-process shortcut for GET /_received)."""
        return [r for r in (self._server.received() if self._server else []) if r["path"].startswith(prefix)]

    def clear(self) -> int:
        return self._server.clear() if self._server else 0

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_until_signal(self) -> None:
        """Block until SIGTERM/SIGINT, then stop (for the CLI)."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal.services.webhook", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        receiver = WebhookReceiver(args.port, args.host).start()
    except OSError as exc:
        print(f"ERROR: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"webhook receiver listening on {receiver.url}", flush=True)
    receiver.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
