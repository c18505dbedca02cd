"""The checks a candidate partition must pass before it is published, each judged per (source, month):

- bronze gate: every bronze file it was built from passed its Great Expectations suite (the verdict kept
  when the file was loaded, re-validated if the file changed since);
- reconciliation: per sub account and currency, the candidate's `costs` (and `dropped_costs`) sums equal
  the export's own totals in the load records, exactly in DECIMAL (|diff| <= TOLERANCE), and nothing
  appears that the export does not have;
- quality: the `costs` suite (FOCUS rules and each provider's id formats) on the candidate rows.

A partition that fails any of them is held back with the reasons; every other partition publishes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from connectors.duckdb_util import connect, quote_identifier
from orchestration.home import Home
from orchestration.providers.base import Expectation
from orchestration.providers.catalog import PROVIDERS
from orchestration.quality.checks import costs_suite
from orchestration.quality.engine import Failure, guarded, validate_bronze, validate_parquet_files
from orchestration.warehouse.build import PlannedPartition, bronze_inputs
from orchestration.warehouse.lake import Lake, PartitionKey
from registry import Registry

# Line items are never rounded; this only absorbs the 1e-18 representation of Parquet doubles summed over
# millions of rows.
TOLERANCE = Decimal("0.000001")


@dataclass
class Verdict:
    key: PartitionKey
    problems: list[str] = field(default_factory=list)  # empty: the partition may publish
    totals_checked: int = 0
    mismatches: list[dict[str, str]] = field(default_factory=list)
    quality_failures: list[Failure] = field(default_factory=list)
    bronze_failures: list[Failure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _sums(candidate: Path, column: str, drop_reason: str | None) -> dict[tuple[str, str], Decimal]:
    con = connect(memory_limit="512MB")
    try:
        where = 'WHERE "DropReason" = ?' if drop_reason is not None else ""
        rows = con.execute(
            f'SELECT "SubAccountId", "BillingCurrency", sum({quote_identifier(column)}) '
            f"FROM read_parquet(?) {where} GROUP BY ALL",
            [str(candidate), *([drop_reason] if drop_reason is not None else [])],
        ).fetchall()
    finally:
        con.close()
    return {(str(account), str(currency)): Decimal(total or 0) for account, currency, total in rows}


def reconcile(registry: Registry, partition: PlannedPartition, candidate: Mapping[str, Path], verdict: Verdict) -> None:
    """Every Expectation of the partition's load records against the candidate files, exactly."""
    expectations: list[Expectation] = [
        e for record in partition.records for e in partition.provider.expectations(registry, partition.account, record)
    ]
    groups: dict[tuple[str, str, str | None], list[Expectation]] = defaultdict(list)
    for expectation in expectations:
        groups[(expectation.relation, expectation.column, expectation.drop_reason)].append(expectation)
    for (relation, column, reason), items in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        actual = _sums(candidate[relation], column, reason)
        expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for item in items:
            expected[(item.sub_account_id, item.currency)] += item.amount
        for key in sorted(set(expected) | set(actual)):
            got, want = actual.get(key, Decimal(0)), expected.get(key)
            verdict.totals_checked += 1
            if want is None or abs(got - want) > TOLERANCE:
                verdict.mismatches.append({
                    "source": partition.key.source, "month": partition.key.month, "relation": relation,
                    "column": column, "sub_account": key[0], "currency": key[1],
                    "expected": "absent" if want is None else str(want), "actual": str(got),
                    **({"drop_reason": reason} if reason else {}),
                })
    if verdict.mismatches:
        first = verdict.mismatches[0]
        verdict.problems.append(
            f"reconciliation: {len(verdict.mismatches)} total(s) differ from the export; first: "
            f"{first['relation']}.{first['column']} {first['sub_account']} {first['currency']} = {first['actual']}, "
            f"export says {first['expected']}"
        )


def bronze_gate(home: Home, partition: PlannedPartition, verdict: Verdict) -> None:
    for item in partition.bronze:
        suite = partition.provider.quality_suite(item.table)
        if suite is None:
            continue
        report = validate_bronze(home, item.path, suite)
        verdict.bronze_failures += report.failures
    if verdict.bronze_failures:
        verdict.problems.append(f"bronze quality: {verdict.bronze_failures[0].summary()}")


def quality(home: Home, candidates: Mapping[PartitionKey, Mapping[str, Path]], verdicts: Mapping[PartitionKey, Verdict]) -> int:
    """The `costs` suite on every candidate in one validation; only when it fails, each candidate alone,
    to say which partitions broke it. Returns the rows validated."""
    suite = costs_suite(PROVIDERS)
    files = {key: tables["costs"] for key, tables in candidates.items() if "costs" in tables}
    if not files:
        return 0
    scratch = home.scratch / "quality"
    report = guarded(lambda: validate_parquet_files(list(files.values()), suite, label="costs candidates", scratch=scratch),
                     "costs candidates", suite)
    if report.passed:
        return report.rows
    for key, path in files.items():
        label = f"costs {key}"
        own = guarded(lambda path=path, label=label: validate_parquet_files([path], suite, label=label, scratch=scratch),
                      label, suite)
        if not own.passed:
            verdicts[key].quality_failures = own.failures
            verdicts[key].problems.append(f"costs quality: {own.failures[0].summary()}")
    return report.rows


def verify(home: Home, registry: Registry, partitions: Sequence[PlannedPartition],
           candidates: Mapping[PartitionKey, Mapping[str, Path]]) -> dict[PartitionKey, Verdict]:
    verdicts = {p.key: Verdict(p.key) for p in partitions}
    for partition in partitions:
        bronze_gate(home, partition, verdicts[partition.key])
        reconcile(registry, partition, candidates[partition.key], verdicts[partition.key])
    quality(home, candidates, verdicts)
    return verdicts


@dataclass
class AuditReport:
    passed: bool
    months: list[str]
    totals_checked: int
    mismatches: list[dict[str, str]]

    @property
    def summary(self) -> str:
        if self.passed:
            return f"{self.totals_checked} (month, sub account, currency) totals in {len(self.months)} month(s) equal the export's"
        first = self.mismatches[0]
        return (f"{len(self.mismatches)} mismatch(es); first: {first['month']} {first['relation']}.{first['column']} "
                f"{first['sub_account']} {first['currency']} = {first['actual']}, export says {first['expected']}")


def audit_published(home: Home, registry: Registry, source_key: str) -> AuditReport:
    """Reconcile a source's PUBLISHED months (the lake's current versions) with its bronze load records now:
    the same rule the build applies before publishing, run again on what analysts read."""
    account = registry.get(source_key)
    provider = PROVIDERS[account.provider]
    lake = Lake(home.lake)
    months: list[str] = []
    totals = 0
    mismatches: list[dict[str, str]] = []
    for entry in lake.entries():
        if entry.source != source_key or entry.current is None:
            continue
        partition = PlannedPartition(entry.key, provider, account, entry.current.inputs, bronze_inputs(home, provider, entry.key))
        verdict = Verdict(entry.key)
        reconcile(registry, partition, {table: lake.absolute(path) for table, path in entry.current.files.items()}, verdict)
        months.append(entry.month)
        totals += verdict.totals_checked
        mismatches += verdict.mismatches
    return AuditReport(not mismatches, months, totals, mismatches)
