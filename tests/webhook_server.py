"""A real webhook receiver for the alert tests: an HTTP server on 127.0.0.1 (a free port) in a thread of the
test process, recording every POST it receives. It can answer with an error status or answer slowly, to test
that a failing webhook never fails the pipeline."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    content_type: str
    body: Any  # the JSON document posted


@dataclass
class WebhookServer:
    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200  # what the next requests are answered with
    delay_seconds: float = 0.0  # how long the server waits before answering

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


@contextmanager
def webhook_server(path: str = "/hooks/costlake/T0SECRET/B0SECRET/x1y2z3") -> Iterator[WebhookServer]:
    """The URL carries a secret-looking path, as a Slack webhook does: tests check it is never logged."""
    state: WebhookServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if state.delay_seconds:
                time.sleep(state.delay_seconds)
            state.received.append(Received(self.path, self.headers.get("Content-Type", ""), json.loads(raw)))
            self.send_response(state.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if state.status < 400 else b"no")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = WebhookServer(f"http://127.0.0.1:{server.server_address[1]}{path}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
