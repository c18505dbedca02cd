"""A real Azurite Blob server on 127.0.0.1 for the Azure integration tests.

Azurite is installed from npm by the project's own files (tests/services/azurite/package.json and its
lock file, `make test` runs `npm ci` through mk/azure.mk). The fixture starts it on a free port in its
own process group with a throw-away workspace and kills the group at teardown. When it is not installed
the tests skip with the command to install it — except in CI (CI set), where a missing stand-in fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
AZURITE_DIR = REPO / "tests" / "services" / "azurite"
AZURITE_BIN = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's documented development account key: public, identical in every Azurite installation.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONNECTION_ENV = "COSTLAKE_TEST_AZURITE_CONNECTION"


@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    def connection_string(self, account_key: str = ACCOUNT_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={account_key};"
            f"BlobEndpoint={self.endpoint};"
        )

    def container_url(self, container: str) -> str:
        return f"{self.endpoint}/{container}"

    def service(self) -> Any:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string(), retry_total=0)

    def upload_tree(self, root: Path, container: str, keys: list[str] | None = None) -> list[str]:
        """Upload every file under ``root`` (or just ``keys``) as blob name = relative path, in key order."""
        client = self.service().get_container_client(container)
        if not client.exists():
            client.create_container()
        if keys is None:
            keys = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        for key in keys:
            with open(root / key, "rb") as data:
                client.upload_blob(key, data, overwrite=True)
        return keys


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with {process.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE_BIN.exists() or shutil.which("node") is None:
        message = (
            f"Azurite is not installed ({AZURITE_BIN} missing): run `make test` or "
            "`npm ci --prefix tests/services/azurite`"
        )
        if os.environ.get("CI"):
            pytest.fail(message + " — in CI the stand-in must be present")
        pytest.skip(message)
    workspace = tmp_path_factory.mktemp("azurite")
    log = workspace / "azurite.log"
    port = _free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(workspace / "data"),
             "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        _wait_listening(port, process, log)
        with pytest.MonkeyPatch.context() as env:
            # A proxy in the environment must not intercept calls to the local server.
            env.setenv("NO_PROXY", "127.0.0.1,localhost")
            env.setenv("no_proxy", "127.0.0.1,localhost")
            yield Azurite(port)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
