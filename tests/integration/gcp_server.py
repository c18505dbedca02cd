"""A real BigQuery emulator (PyPI bqemulator, installed by mk/gcp.mk into .tools/bqemu) for the GCP tests.

The emulator runs as its own process on 127.0.0.1 (free ports, own process group, killed at teardown)
and answers the BigQuery REST API the google-cloud-bigquery client speaks: datasets, tables with nested
and repeated records, insertAll, jobs.query with parameters, paged results turned into Arrow.

One thing it cannot do: ingestion-time partitions. bqemulator rewrites ``_PARTITIONTIME`` to
``CURRENT_TIMESTAMP()`` (every row "lives" in today's partition) and refuses partition decorators, so a
month in the past could never be read through Google's partition filter, and its
``INFORMATION_SCHEMA.PARTITIONS`` shows an ingestion-time table as one partition of today.
``PartitionTimeProxy`` is the narrowest stand-in for that one feature: an HTTP proxy in front of the
emulator that rewrites ``_PARTITIONTIME`` in query text to ``TIMESTAMP_TRUNC(export_time, DAY)`` — for a
billing export row that is what its ingestion partition is (the day it was exported) — and answers a
query of ``INFORMATION_SCHEMA.PARTITIONS`` for a table (``table_name = @table_name``) with the same days,
counted from the table's rows. Everything else passes through unchanged, and the proxy keeps the query
texts it saw so tests can show which partitions were asked for.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BQEMU = REPO / ".tools" / "bqemu" / "bin" / "bqemulator"
PROJECT = "fin-billing"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Emulator:
    def __init__(self, workdir: Path):
        self.rest_port = free_port()
        self.grpc_port = free_port()
        self.log = workdir / "bqemulator.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [str(BQEMU), "start", "--rest-host", "127.0.0.1", "--rest-port", str(self.rest_port),
                 "--grpc-host", "127.0.0.1", "--grpc-port", str(self.grpc_port), "--project", PROJECT,
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"},
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bqemulator exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/bigquery/v2/projects/{PROJECT}/datasets", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"bqemulator did not answer within 90 s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


_PARTITIONTIME = re.compile(r"\b_PARTITIONTIME\b", re.IGNORECASE)
_PARTITIONS_VIEW = re.compile(r"`([\w-]+)\.(\w+)\.INFORMATION_SCHEMA\.PARTITIONS`", re.IGNORECASE)


class PartitionTimeProxy:
    """Forward every request to the emulator; in query text, _PARTITIONTIME -> the row's export day."""

    def __init__(self, target: str):
        self.target = target
        self.queries: list[str] = []
        self.parameters: list[dict[str, str]] = []  # per query: parameter name -> value
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if body and self.command == "POST" and ("/jobs" in self.path or "/queries" in self.path):
                    body = proxy._rewrite(body)
                host, port = proxy.target.removeprefix("http://").split(":")
                connection = http.client.HTTPConnection(host, int(port), timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                connection.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _rewrite(self, body: bytes) -> bytes:
        try:
            data = json.loads(body)
        except ValueError:
            return body
        query = data.get("configuration", {}).get("query", {}) if "configuration" in data else data
        text = query.get("query")
        if isinstance(text, str):
            self.queries.append(text)
            self.parameters.append(
                {p.get("name", ""): str(p.get("parameterValue", {}).get("value")) for p in query.get("queryParameters", [])}
            )
            query["query"] = _PARTITIONTIME.sub("TIMESTAMP_TRUNC(export_time, DAY)", text)
            view = _PARTITIONS_VIEW.search(text)
            if view and "@table_name" in text:
                table = self.parameters[-1]["table_name"]
                query["query"] = (
                    "SELECT FORMAT_TIMESTAMP('%Y%m%d', TIMESTAMP_TRUNC(export_time, DAY)) AS partition_id, "
                    f"COUNT(*) AS total_rows FROM `{view.group(1)}.{view.group(2)}.{table}` GROUP BY 1"
                )
                query.pop("queryParameters", None)
        return json.dumps(data).encode()

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def running_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """For a session fixture: start the emulator (skip, or fail in CI, when it is not installed)."""
    if not BQEMU.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BQEMU} is missing: `make test` installs it (mk/gcp.mk); CI must not skip these tests")
        pytest.skip(f"BigQuery emulator not installed at {BQEMU}; run `make .tools/bqemu/.installed` (mk/gcp.mk)")
    emulator = Emulator(tmp_path_factory.mktemp("bqemu"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def running_proxy(emulator: Emulator) -> Iterator[PartitionTimeProxy]:
    proxy = PartitionTimeProxy(emulator.endpoint)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def client_for(endpoint: str) -> Any:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=endpoint))
