"""The AWS part of the demo: two payers exercising the hard parts of CUR.

- acme-payer: CUR 2.0 Parquet, mpa shared (unblended), EDP discounts (net_* columns), two registered
  linked accounts and two unregistered ones whose rows are dropped and reported; 2026-10 is rewritten
  (the first execution's files stay in the bucket, the manifest points at the second); its two files per
  month repeat line item ids (AWS guarantees them unique within one file only).
- globex-payer: mpa dedicated (blended), migrating legacy CUR (csv.gz with ragged rows) -> CUR 2.0:
  the legacy export runs until 2026-09, CUR 2.0 from 2026-09, so 2026-09 is delivered by both.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from demo.aws import GeneratedMonth, LinkedAccount, PayerSpec, write_payer_month

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
    discounts=True, files_per_month=2, repeat_line_ids=True, seed=11,
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
