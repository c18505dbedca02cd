"""`costlake demo`: generate realistic exports for the demo registry into <home>/demo-exports.

One generator per cloud (DEMO_PARTS); each returns the expected totals the tests assert against.
Two AWS payers exercise the hard parts of CUR:
- acme-payer: CUR 2.0 Parquet, mpa shared (unblended), EDP discounts (net_* columns), two registered
  linked accounts and two unregistered ones whose rows are dropped and reported; 2026-10 is rewritten
  (the first execution's files stay in the bucket, the manifest points at the second).
- globex-payer: mpa dedicated (blended), migrating legacy CUR (csv.gz with ragged rows) -> CUR 2.0:
  the legacy export runs until 2026-09, CUR 2.0 from 2026-09, so 2026-09 is delivered by both.
Azure (an EA enrollment and an MCA billing account, actual + amortized), Google Cloud (two billing
accounts, standard + detailed tables) and OCI (a JPY tenancy with a correction): connectors/azure/demo.py,
connectors/gcp/generator.py (DEMO_SOURCES), connectors/oci/generator.py (DEMO_TENANCIES).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.aws.generator import GeneratedMonth, LinkedAccount, PayerSpec, write_payer_month
from connectors.azure.demo import azure_expected_billed, generate_azure_demo
from connectors.gcp.generator import gcp_expected_billed, generate_gcp_demo
from connectors.oci.generator import generate_oci_demo, oci_expected_billed
from orchestration.home import Home

REGISTRY_DIR = Path(__file__).resolve().parent.parent / "registry"
DEMO_REGISTRY_HEADER = REGISTRY_DIR / "demo.yaml"
DEMO_REGISTRY_FRAGMENTS = REGISTRY_DIR / "demo"
DEMO_MONTHS = ("2026-08", "2026-09", "2026-10")

ACME_CUR2 = PayerSpec(
    fmt="cur2", bucket="acme-billing", prefix="exports", name="acme-cur2",
    payer_account_id="111122223333", payer_name="ACME payer",
    linked_accounts=(
        LinkedAccount("210987654321", "acme-dev"),
        LinkedAccount("012345678901", "acme-prod"),
        LinkedAccount("444455556666", "acme-sandbox"),  # not registered: dropped and reported
        LinkedAccount("777788889999", "acme-research"),  # not registered: dropped and reported
    ),
    discounts=True, files_per_month=2, seed=11,
)
GLOBEX_LEGACY = PayerSpec(
    fmt="cur", bucket="globex-billing", prefix="cur", name="globex-hourly",
    payer_account_id="999900001111", payer_name="Globex payer",
    linked_accounts=(LinkedAccount("555566667777", "globex-web"), LinkedAccount("888800002222", "globex-unlisted")),
    compression="gzip", ragged_rows=3, seed=23,
)
GLOBEX_CUR2 = PayerSpec(
    fmt="cur2", bucket="globex-billing", prefix="data-exports", name="globex-cur2",
    payer_account_id="999900001111", payer_name="Globex payer",
    linked_accounts=GLOBEX_LEGACY.linked_accounts, seed=29,
)

DEMO_KEPT_ACCOUNTS = {
    "acme-payer": {"111122223333", "210987654321", "012345678901"},
    "globex-payer": {"999900001111", "555566667777"},
}
DEMO_COST_BASIS = {"acme-payer": "unblended", "globex-payer": "blended"}


def generate_aws_demo(root: Path) -> dict[str, dict[str, GeneratedMonth]]:
    """Write the AWS demo exports under ``root``; return the final run of each (source, month)."""
    acme_root, globex_root = root / "acme-billing", root / "globex-billing"
    final: dict[str, dict[str, GeneratedMonth]] = {"acme-payer": {}, "globex-payer": {}}
    for month in DEMO_MONTHS:
        final["acme-payer"][month] = write_payer_month(acme_root, ACME_CUR2, month)
    # A rewrite: AWS re-delivers the month with late usage; the first execution's files stay behind.
    final["acme-payer"]["2026-10"] = write_payer_month(acme_root, ACME_CUR2, "2026-10", revision=1)
    for month in ("2026-08", "2026-09"):
        final["globex-payer"][month] = write_payer_month(globex_root, GLOBEX_LEGACY, month)
    for month in ("2026-09", "2026-10"):
        # 2026-09 is delivered by both exports; the newer (CUR 2.0) one wins, by the documented rule.
        final["globex-payer"][month] = write_payer_month(globex_root, GLOBEX_CUR2, month)
    return final


def aws_expected_billed(final: dict[str, dict[str, GeneratedMonth]]) -> dict[str, dict[str, str]]:
    """Generator oracle: billed total per source and month for kept accounts (blended/unblended per mpa)."""
    result: dict[str, dict[str, str]] = {}
    for source, months in final.items():
        basis = DEMO_COST_BASIS[source]
        result[source] = {
            month: str(sum((getattr(t, basis) for a, t in run.totals.items() if a in DEMO_KEPT_ACCOUNTS[source]), Decimal(0)))
            for month, run in sorted(months.items())
        }
    return result


# Each provider's demo: (generate exports under root -> its oracle, oracle -> billed per source and month).
# A provider adds one entry; its registry entries live in registry/demo/<provider>.yaml.
DEMO_PARTS: dict[str, tuple[Callable[[Path], Any], Callable[[Any], dict[str, dict[str, str]]]]] = {
    "aws": (generate_aws_demo, aws_expected_billed),
    "gcp": (generate_gcp_demo, gcp_expected_billed),
    "azure": (generate_azure_demo, azure_expected_billed),
    "oci": (generate_oci_demo, oci_expected_billed),
}


def generate_demo_exports(root: Path) -> dict[str, Any]:
    """Write every provider's demo exports under ``root`` (from scratch: the same bytes every time)."""
    if root.exists():
        shutil.rmtree(root)
    return {name: generate(root) for name, (generate, _) in DEMO_PARTS.items()}


def demo_registry_text(exports: Path) -> str:
    fragments = [DEMO_REGISTRY_HEADER.read_text(encoding="utf-8")]
    fragments += [path.read_text(encoding="utf-8") for path in sorted(DEMO_REGISTRY_FRAGMENTS.glob("*.yaml"))]
    return "\n".join(fragments).replace("${DEMO_EXPORTS}", str(exports))


def write_demo(home: Home) -> tuple[Path, dict[str, dict[str, str]]]:
    exports = home.root / "demo-exports"
    oracles = generate_demo_exports(exports)
    registry_path = home.root / "registry.yaml"
    registry_path.write_text(demo_registry_text(exports), encoding="utf-8")
    expected: dict[str, dict[str, str]] = {}
    for name, (_, billed) in DEMO_PARTS.items():
        expected.update(billed(oracles[name]))
    return registry_path, expected
