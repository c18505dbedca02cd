"""The Dagster UI on the demo, in a real browser: what a person sees when they open `make ui`.

`dagster-webserver` runs on 127.0.0.1 against the session's `costlake demo` home; headless Chromium
(Debian's chromium + chromium-driver, installed by mk/browser.mk) opens the catalog, a payer's partitions
and checks, and the checks of `costs`. Each fact is checked twice: as text a person reads on the page,
and through the webserver's GraphQL endpoint. The expected values come from the demo's files on disk
(bronze months, rows counted with DuckDB) and the generator's own run ids — never from the UI itself.
Screenshots land in test-artifacts/ui/.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest
from ui_helpers import (
    ARTIFACTS,
    DagsterWebserver,
    catalog_links,
    chromium_driver,
    dagster_webserver,
    next_to,
    open_page,
    require_browser,
    save_screenshot,
)

from demo.exports import DEMO_MONTHS
from orchestration.assets.bronze import BRONZE_CHECK
from orchestration.assets.warehouse import reconciliation_check_name
from orchestration.home import Home
from orchestration.providers.catalog import PROVIDERS
from registry import Registry, load_registry

pytestmark = pytest.mark.e2e

AWS_PAYERS = ("acme-payer", "globex-payer")


@dataclass
class Ui:
    server: DagsterWebserver
    driver: Any  # selenium.webdriver.Chrome
    home: Home
    registry: Registry

    def asset_path(self, source_key: str) -> str:
        account = self.registry.get(source_key)
        return "/".join(PROVIDERS[account.provider].asset_key(source_key).path)

    def open(self, path: str, texts: list[str], shot: str) -> str:
        return open_page(self.driver, self.server.base_url, path, texts, shot)


@pytest.fixture(scope="module")
def ui(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    # Tools first: a local run without the browser skips before paying for the demo.
    require_browser()
    home: Home = request.getfixturevalue("demo_home")
    for old_shot in ARTIFACTS.glob("*.png"):  # the artifacts show this run only
        old_shot.unlink()
    with dagster_webserver(home.root, ARTIFACTS / "webserver.log") as server:
        # The community sign-up dialog that Dagster opens on a first visit from localhost would cover every
        # screenshot; this is what its own Skip button does (a flag file under DAGSTER_HOME/.nux).
        assert server.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
        driver = chromium_driver(tmp_path_factory.mktemp("chromium-profile"))
        try:
            yield Ui(server, driver, home, load_registry(home.root / "registry.yaml"))
        finally:
            driver.quit()


def bronze_months(home: Home, source_key: str) -> list[str]:
    return sorted(path.stem for path in (home.bronze / "aws" / source_key).glob("*.parquet"))


def bronze_rows(home: Home, source_key: str, month: str) -> int:
    path = home.bronze / "aws" / source_key / f"{month}.parquet"
    [(rows,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()
    return rows


ASSET_QUERY = """
query Asset($path: [String!]!, $partition: String!, $withPartition: Boolean!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      partitionKeys
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
      assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } }
      assetMaterializations(partitions: [$partition], limit: 1) @include(if: $withPartition) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text } }
      }
      assetChecksOrError {
        ... on AssetChecks {
          checks { name blocking executionForLatestMaterialization { status evaluation { success } } }
        }
      }
    }
  }
}
"""


def asset_node(ui: Ui, path: str, partition: str = "") -> dict[str, Any]:
    variables = {"path": path.split("/"), "partition": partition, "withPartition": bool(partition)}
    node = ui.server.graphql(ASSET_QUERY, variables)["assetNodeOrError"]
    assert node, f"no asset {path} in the webserver"
    return node


def checks_by_name(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in node["assetChecksOrError"]["checks"]}


def assert_passed(check: dict[str, Any]) -> None:
    latest = check["executionForLatestMaterialization"]
    assert latest and latest["status"] == "SUCCEEDED" and latest["evaluation"]["success"] is True, check


def test_catalog_shows_every_source_asset_and_costs(ui: Ui) -> None:
    # Every registered billing source of an integrated provider has its own partitioned asset.
    sources = [a.key for a in ui.registry.billing_sources if a.provider in PROVIDERS]
    assert set(AWS_PAYERS) <= set(sources)
    expected = {ui.asset_path(key) for key in sources}
    nodes = {"/".join(n["assetKey"]["path"]): n
             for n in ui.server.graphql("{ assetNodes { assetKey { path } isPartitioned } }")["assetNodes"]}
    assert expected | {"costs"} <= set(nodes)
    assert all(nodes[path]["isPartitioned"] for path in expected)
    partitions = len(asset_node(ui, ui.asset_path("acme-payer"))["partitionKeys"])

    ui.open("/assets", ["bronze / aws / acme_payer", "bronze / aws / globex_payer", "costs",
                        f"{partitions} partitions"], shot="catalog")
    links = catalog_links(ui.driver)  # scrolls the whole (virtualized) list, then back to the top
    missing = {f"/assets/{path}" for path in expected | {"costs"}} - links
    assert not missing, f"not in the catalog: {sorted(missing)}"
    save_screenshot(ui.driver, "catalog")


@pytest.mark.parametrize("source_key", AWS_PAYERS)
def test_payer_page_shows_its_partitions(ui: Ui, demo_oracle, source_key: str) -> None:
    path = ui.asset_path(source_key)
    months = bronze_months(ui.home, source_key)
    assert months == list(DEMO_MONTHS), months
    newest = months[-1]
    partition = f"{newest}-01"  # monthly partition keys are the month's first day
    rows = bronze_rows(ui.home, source_key, newest)
    # acme-payer's 2026-10 was rewritten: the UI must show the second delivery's run, not the first's.
    run_id = demo_oracle[source_key][newest].run_id

    node = asset_node(ui, path, partition)
    keys = node["partitionKeys"]
    stats = node["partitionStats"]
    assert (stats["numMaterialized"], stats["numFailed"], stats["numPartitions"]) == (len(months), 0, len(keys))
    materialized = {
        key for r in node["assetPartitionStatuses"]["ranges"] if r["status"] == "MATERIALIZED"
        for key in keys[keys.index(r["startKey"]): keys.index(r["endKey"]) + 1]
    }
    assert materialized == {f"{m}-01" for m in months}
    [materialization] = node["assetMaterializations"]
    metadata = {e["label"]: e.get("intValue", e.get("text")) for e in materialization["metadataEntries"]}
    assert metadata["billing_period"] == newest and metadata["run_id"] == run_id
    assert metadata["dagster/row_count"] == rows

    text = ui.open(
        f"/assets/{path}?view=partitions&partition={partition}",
        [f"{len(keys)} Partitions Selected", f"Materialized ({len(months)})", f"Missing ({len(keys) - len(months)})",
         "Failed (0)", "Latest materialization", "billing_period", newest, run_id, "dagster/row_count"],
        shot=f"{path.replace('/', '__')}-partitions",
    )
    # The selected partition's pane: its key, then its status; its metadata table: label, then value.
    assert next_to(text, partition, "Materialized")
    assert next_to(text, "dagster/row_count", str(rows)) or next_to(text, "dagster/row_count", f"{rows:,}")


@pytest.mark.parametrize("source_key", AWS_PAYERS)
def test_payer_page_shows_its_bronze_check_passed(ui: Ui, source_key: str) -> None:
    path = ui.asset_path(source_key)
    checks = checks_by_name(asset_node(ui, path))
    check = checks[BRONZE_CHECK]
    assert check["blocking"] is True
    assert_passed(check)
    # Every load of every month was checked, and no check ever failed.
    executions = ui.server.graphql(
        """query Checks($path: [String!]!, $name: String!) {
             assetCheckExecutions(assetKey: {path: $path}, checkName: $name, limit: 100) {
               status evaluation { success } } }""",
        {"path": path.split("/"), "name": BRONZE_CHECK},
    )["assetCheckExecutions"]
    evaluated = [e for e in executions if e["evaluation"]]
    assert len(evaluated) >= len(bronze_months(ui.home, source_key))
    assert all(e["status"] == "SUCCEEDED" and e["evaluation"]["success"] for e in evaluated), evaluated

    text = ui.open(
        f"/assets/{path}?view=checks&checkDetail={BRONZE_CHECK}",
        [f"Checks ({len(checks)})", BRONZE_CHECK, "Succeeded", "This is a blocking asset check.",
         "equal the export's", "Evaluation result", "Passed"],
        shot=f"{path.replace('/', '__')}-checks",
    )
    assert next_to(text, BRONZE_CHECK, "Succeeded")  # the check list's entry
    assert next_to(text, "Evaluation result", "Passed")  # the selected check's latest execution


def test_costs_page_shows_reconciliation_checks_passed(ui: Ui) -> None:
    checks = checks_by_name(asset_node(ui, "costs"))
    sources = [a.key for a in ui.registry.billing_sources if a.provider in PROVIDERS]
    for key in sources:
        assert_passed(checks[reconciliation_check_name(key)])
    name = reconciliation_check_name("acme-payer")
    assert name == "reconciles_with_export__acme_payer"
    months = ", ".join(bronze_months(ui.home, "acme-payer"))

    text = ui.open(
        f"/assets/costs?view=checks&checkDetail={name}",
        [f"Checks ({len(checks)})", name, "Evaluation result", "Passed", "months_checked", months,
         "equal the export's"],
        shot="costs-checks",
    )
    assert next_to(text, "Evaluation result", "Passed")
    assert next_to(text, "months_checked", months)
