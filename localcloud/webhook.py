"""A webhook receiver on 127.0.0.1 for the tests and the demo: records every notification POSTed to it (a Slack
incoming webhook's stand-in). It can answer slowly or with an error, to show that a release never waits on it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Start it, give a release its `url`, read `received` (the JSON bodies, in order)."""

    def __init__(self, path: str = "/services/T000/B000/secret-token") -> None:
        self.path = path
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.delay = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, 1_000_000))
                if receiver.delay:
                    time.sleep(min(receiver.delay, 30.0))
                if self.path != receiver.path:
                    self.send_response(404)
                    self.end_headers()
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unreadable": raw.decode("utf-8", "replace")}
                with receiver._lock:
                    receiver.received.append(body)
                try:
                    self.send_response(receiver.status)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(b"ok" if receiver.status == 200 else b"no")
                except OSError:  # the sender gave up waiting (its timeout): what it sent is recorded all the same
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[str]:
        """The events received, in order (from the bodies' metadata)."""
        with self._lock:
            return [b.get("metadata", {}).get("event_payload", {}).get("event", "?") for b in self.received]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
