"""Helpers for the browser test of the Dagster UI: the webserver as a subprocess, its GraphQL endpoint,
and headless Debian Chromium driven by Selenium through Debian's chromedriver.

Browser and driver come from the Debian packages chromium + chromium-driver (mk/browser.mk): test tools
cannot download a browser of their own on these machines, and Selenium Manager is never asked to
(both paths are given explicitly).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

# Flags that let Chromium run here as root in a closed network: without the background-networking,
# component-update and sync flags it keeps opening connections that this network refuses.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # CI containers often have a tiny /dev/shm
    "--window-size=1600,1400",
)


def missing_tool(reason: str) -> None:
    """In CI a missing browser is a failure (the test would silently stop guarding the UI); locally a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser test must run)", pytrace=False)
    pytest.skip(reason)


def require_browser() -> None:
    """Chromium, its driver and selenium, checked before a test pays for a demo home."""
    for tool in (CHROMIUM, CHROMEDRIVER):
        if not tool.exists():
            missing_tool(f"{tool} is not installed (Debian packages chromium + chromium-driver: `make test` "
                         "installs them through mk/browser.mk)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing_tool("selenium is not installed in the venv (dev dependency group)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterWebserver:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes], log: Path):
        self.base_url = base_url
        self.process = process
        self.log = log

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-chars:] if self.log.exists() else ""

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.load(response)
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def wait_until_loaded(self, timeout: float) -> None:
        """/server_info answers once the webserver listens; the code location may still be loading."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"dagster-webserver exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/server_info", timeout=2):
                    pass
                data = self.graphql(
                    """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                         locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [e for e in entries if e["locationOrLoadError"]["__typename"] == "PythonError"]
                    assert not errors, f"the code location failed to load: {errors}"
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"dagster-webserver not ready after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def stop(self) -> None:
        # Its own process group (start_new_session): the webserver and the code server it spawned.
        group = self.process.pid
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)
        # Whatever is left of the group (a code server waiting for its heartbeat to time out) goes too.
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=10)


@contextmanager
def dagster_webserver(home: Path, log: Path, timeout: float = 120) -> Iterator[DagsterWebserver]:
    """`dagster-webserver` on the demo home, 127.0.0.1 and a free port, in its own process group. Not
    `dagster dev`: reading needs no daemon, and the webserver alone is ready sooner."""
    bin_dir = Path(sys.executable).parent  # the venv's bin: dagster-webserver, and dbt for DbtCliResource
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "COSTLAKE_HOME": str(home),
        "COSTLAKE_REGISTRY": str(home / "registry.yaml"),
        "DAGSTER_HOME": str(home / "dagster"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(bin_dir / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = DagsterWebserver(f"http://127.0.0.1:{port}", process, log)
    try:
        server.wait_until_loaded(timeout)
        yield server
    finally:
        server.stop()


def chromium_driver(user_data_dir: Path):  # -> selenium.webdriver.Chrome
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    return driver


def next_to(text: str, first: str, second: str) -> bool:
    """``second`` follows ``first`` on the page with only whitespace between (table cells, a tag)."""
    return re.search(rf"(^|\s){re.escape(first)}\s+{re.escape(second)}(\s|$)", text) is not None


def page_text(driver) -> str:
    return driver.execute_script("return document.body ? document.body.innerText : ''") or ""


def wait_for_texts(driver, texts: list[str], shot: str, timeout: float = 45) -> str:
    """Wait until every text is on the page (the UI fills in asynchronously); on timeout save a screenshot
    and say which texts never appeared."""
    deadline = time.monotonic() + timeout
    while True:
        text = page_text(driver)
        missing = [t for t in texts if t not in text]
        if not missing:
            return text
        if time.monotonic() > deadline:
            save_screenshot(driver, f"{shot}-FAILED")
            raise AssertionError(
                f"{driver.current_url}: not shown after {timeout:.0f} s: {missing}\n--- page text ---\n{text[:4000]}"
            )
        time.sleep(0.25)


def open_page(driver, base_url: str, path: str, texts: list[str], shot: str) -> str:
    driver.get(base_url + path)
    text = wait_for_texts(driver, texts, shot)
    settle(driver)
    save_screenshot(driver, shot)
    return text


def settle(driver, timeout: float = 5) -> None:
    """Give the page's last lazy parts (status cells, spinners) a moment so the screenshot shows the
    finished page. Only cosmetic: the assertions never depend on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(s in page_text(driver) for s in ("Loading...", "Loading…")):
        time.sleep(0.25)
    time.sleep(0.3)


def save_screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


_CATALOG_SCROLL_JS = """
const seen = new Set(arguments[0]);
document.querySelectorAll('a[href^="/assets/"]').forEach(a => seen.add(a.getAttribute('href')));
// The catalog is a virtualized list: rows outside the viewport are not in the DOM. Scroll its container.
let box = document.querySelector('a[href^="/assets/"]');
while (box && !(box.scrollHeight > box.clientHeight + 1 &&
                ['auto', 'scroll'].includes(getComputedStyle(box).overflowY))) { box = box.parentElement; }
let done = true;
if (box) {
  done = box.scrollTop + box.clientHeight >= box.scrollHeight - 1;
  box.scrollTop = arguments[1] ? 0 : box.scrollTop + box.clientHeight * 0.7;
}
return [Array.from(seen), done];
"""


def catalog_links(driver, max_steps: int = 60) -> set[str]:
    """Every asset link the catalog shows, scrolling through the virtualized list, then back to the top."""
    seen: list[str] = []
    for _ in range(max_steps):
        seen, done = driver.execute_script(_CATALOG_SCROLL_JS, seen, False)
        if done:
            break
        time.sleep(0.2)  # the list renders the rows of the new scroll position
    seen, _ = driver.execute_script(_CATALOG_SCROLL_JS, seen, True)
    settle(driver)
    return set(seen)
