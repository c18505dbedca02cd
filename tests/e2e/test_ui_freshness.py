"""The Dagster UI flags an overdue source, shows its owner, and shows a month the provider never exported as
"no export", in a real browser (headless Debian Chromium, as tests/e2e/test_ui_browser.py).

A copy of the demo home where acme-payer is fresh by a registry override (ten years) and globex-payer keeps
AWS's limits: the demo's AWS data ends on 2026-11-01, so globex-payer is stale on any clock this runs on.
`costlake run` evaluates the data_freshness checks; acme-payer's November (no export) is requested through
Dagster the way the daily schedule does. Expected values come from the bronze files (DuckDB), never from the
UI. Screenshots land in test-artifacts/ui/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pytest
from ui_helpers import (
    ARTIFACTS,
    DagsterWebserver,
    chromium_driver,
    dagster_webserver,
    next_to,
    open_page,
    require_browser,
)

from orchestration.app.cli import main
from orchestration.home import Home
from orchestration.warehouse.builder import refresh_views
from registry import load_registry

pytestmark = pytest.mark.e2e

TEN_YEARS = 87600


@dataclass
class Ui:
    server: DagsterWebserver
    driver: Any
    home: Home
    globex_data_time: datetime  # newest usage end in globex-payer's bronze

    def open(self, path: str, texts: list[str], shot: str) -> str:
        return open_page(self.driver, self.server.base_url, path, texts, shot)


def _copy_of_the_demo(demo_home: Home, target: Home) -> None:
    shutil.copytree(demo_home.root, target.root)
    registry = target.root / "registry.yaml"
    text = registry.read_text().replace(str(demo_home.root), str(target.root))
    text = text.replace("  - key: acme-payer\n", "  - key: acme-payer\n    owner: team:finops\n"
                        f"    freshness: {{warn_after_hours: {TEN_YEARS - 1}, stale_after_hours: {TEN_YEARS}}}\n", 1)
    text = text.replace("  - key: globex-payer\n", "  - key: globex-payer\n    owner: billing-lead@example.com\n", 1)
    registry.write_text(text)
    refresh_views(target, load_registry(registry))


def _request_a_month_without_export(home: Home) -> None:
    """What the daily schedule does on a new month's first days: load it for every source before AWS has
    exported it (Google has)."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    defs = build_definitions(load_registry(home.root / "registry.yaml"), home)
    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    try:
        job = defs.get_job_def("ingest_sources")  # the daily schedule's job, for every source
        result = job.execute_in_process(partition_key="2026-11-01", instance=dg.DagsterInstance.get(),
                                        tags={"costlake/trigger": "schedule"}, raise_on_error=False)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    assert result.success


@pytest.fixture(scope="module")
def ui(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    require_browser()
    demo_home: Home = request.getfixturevalue("demo_home")
    home = Home.resolve(tmp_path_factory.mktemp("ui-freshness") / "home")
    _copy_of_the_demo(demo_home, home)
    assert main(["run", "--home", str(home.root), "--months", "2026-10"]) == 0
    _request_a_month_without_export(home)
    files = str(home.bronze / "aws" / "globex-payer" / "*.parquet")
    [(globex_data_time,)] = duckdb.sql(
        f"""select max(line_item_usage_end_date) from read_parquet('{files}')
            where line_item_line_item_type in ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')""").fetchall()
    with dagster_webserver(home.root, ARTIFACTS / "webserver-freshness.log") as server:
        assert server.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
        driver = chromium_driver(tmp_path_factory.mktemp("chromium-profile-freshness"))
        try:
            yield Ui(server, driver, home, globex_data_time)
        finally:
            driver.quit()


CHECKS_QUERY = """
query Checks($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 20) {
    status partition evaluation { success severity description }
  }
}
"""


def executions(ui: Ui, source: str, check: str) -> list[dict[str, Any]]:
    path = ["bronze", "aws", source.replace("-", "_")]
    return ui.server.graphql(CHECKS_QUERY, {"path": path, "name": check})["assetCheckExecutions"]


def test_stale_source_is_flagged_and_fresh_one_passes(ui: Ui) -> None:
    data_time = f"{ui.globex_data_time:%Y-%m-%d %H:%M} UTC"
    latest = executions(ui, "globex-payer", "data_freshness")[0]
    assert latest["status"] == "FAILED" and latest["evaluation"]["success"] is False
    assert latest["evaluation"]["severity"] == "ERROR"
    description = latest["evaluation"]["description"]
    assert description.startswith(f"globex-payer: stale: its newest charge end is {data_time}")
    assert "stale after 72 h" in description

    text = ui.open(
        "/assets/bronze/aws/globex_payer?view=checks&checkDetail=data_freshness",
        ["data_freshness", "This is a non-blocking asset check.", "Evaluation result", "Failed",
         f"its newest charge end is {data_time}", "stale after 72 h"],
        shot="freshness-globex-stale",
    )
    assert next_to(text, "data_freshness", "Failed")  # the checks list: the source is flagged
    assert next_to(text, "Evaluation result", "Failed")

    fresh = executions(ui, "acme-payer", "data_freshness")[0]
    assert fresh["status"] == "SUCCEEDED" and fresh["evaluation"]["description"].startswith("acme-payer: fresh: ")
    text = ui.open("/assets/bronze/aws/acme_payer?view=checks&checkDetail=data_freshness",
                   ["data_freshness", "Evaluation result", "Passed", f"stale after {TEN_YEARS} h"],
                   shot="freshness-acme-fresh")
    assert next_to(text, "Evaluation result", "Passed")


def test_the_owner_is_on_the_source_page(ui: Ui) -> None:
    text = ui.open("/assets/bronze/aws/acme_payer", ["Owners", "finops", "team: finops"], shot="owner-acme")
    assert next_to(text, "Owners", "finops")
    text = ui.open("/assets/bronze/aws/globex_payer", ["Owners", "billing-lead@example.com"], shot="owner-globex")
    # A person owner is shown with an avatar letter before the address.
    assert re.search(r"(^|\s)Owners\s+(B\s+)?billing-lead@example\.com(\s|$)", text)


def test_a_month_without_export_is_no_export_not_passed(ui: Ui) -> None:
    november = {name: [e for e in executions(ui, "acme-payer", name) if e["partition"] == "2026-11-01"]
                for name in ("bronze_matches_export", "bronze_quality")}
    # Planned, never evaluated: skipped, with no evaluation that could read as "passed".
    assert all(runs and all(e["status"] == "SKIPPED" and e["evaluation"] is None for e in runs)
               for runs in november.values()), november
    node = ui.server.graphql(
        """{ assetNodeOrError(assetKey: {path: ["bronze", "aws", "acme_payer"]}) { ... on AssetNode {
             assetObservations(partitions: ["2026-11-01"]) { partition description
               metadataEntries { label ... on TextMetadataEntry { text } } }
             assetMaterializations(partitions: ["2026-11-01"]) { partition } } } }""")["assetNodeOrError"]
    assert node["assetMaterializations"] == []  # the partition stays missing
    [observation] = node["assetObservations"]
    assert observation["description"] == "no export for 2026-11: nothing loaded, existing bronze left unchanged"
    assert {"label": "status", "text": "no_export"} in observation["metadataEntries"]

    text = ui.open("/assets/bronze/aws/acme_payer?view=events",
                   ["Partition 2026-11-01 observed", "no export for 2026-11: nothing loaded", "no_export"],
                   shot="no-export-observation")
    assert next_to(text, "status", "no_export")
