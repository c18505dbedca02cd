"""Dagster check results of the quality suites: `bronze_quality` on each source partition and
`costs_quality` on the `costs` mart (verdicts from engine.py, rendered as Markdown for the UI)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from connectors.duckdb_util import sql_literal
from orchestration.quality.engine import (
    Failure,
    ValidationReport,
    guarded,
    validate_bronze,
    validate_relation,
)
from orchestration.quality.rules import CHARGE_PERIOD_IN_BILLING_PERIOD, COSTS_SUITE, Suite

if TYPE_CHECKING:
    from connectors.records import LoadRecord
    from orchestration.home import Home
    from orchestration.providers.base import Provider

BRONZE_QUALITY_CHECK = "bronze_quality"
COSTS_QUALITY_CHECK = "costs_quality"


def bronze_table(provider: Provider, bronze_file: str | os.PathLike[str]) -> str | None:
    """The dbt source table a bronze file belongs to: <bronze>/<folder>/<source key>/<YYYY-MM>.parquet, where
    a folder may have several parts ("gcp/standard")."""
    parents = Path(bronze_file).parent.parent.parts
    matches = [(len(Path(f).parts), table) for table, f in provider.bronze_tables.items()
               if parents[-len(Path(f).parts):] == Path(f).parts]
    return max(matches)[1] if matches else None


def bronze_files(home: Home, provider: Provider) -> Iterator[tuple[str, Path]]:
    """Every bronze file the dbt sources of ``provider`` read (the same glob: <folder>/*/*.parquet)."""
    for table, folder in sorted(provider.bronze_tables.items()):
        for path in sorted((home.bronze / folder).glob("*/*.parquet")):
            if path.parent.name != "_schema":
                yield table, path


# ------------------------------------------------------------------------------------------------
# Dagster check results
# ------------------------------------------------------------------------------------------------


def _md_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:120]


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(none)"
    headers = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(row.get(h)) for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def failures_markdown(failures: Sequence[Failure], label: Mapping[str, str] | None = None) -> str:
    if not failures:
        return "All expectations passed."
    label = label or {}
    parts = [markdown_table([
        {"expectation": f.expectation, "column": f.column, "rule": f.rule, "unexpected": f.unexpected_count,
         "of rows": f.element_count, "file": label.get(f.file, f.file)}
        for f in failures
    ])]
    for f in failures:
        parts += ["", f"**{f.expectation}** on `{f.column}` in `{label.get(f.file, f.file)}`"
                  + (f": {f.detail}" if f.detail else ""), "", markdown_table(f.examples)]
    return "\n".join(parts)


def _short(home: Home, file: str) -> str:
    try:
        return str(Path(file).resolve().relative_to(home.root.resolve()))
    except ValueError:
        return file


def _description(failures: Sequence[Failure], labels: Mapping[str, str], ok: str) -> str:
    if not failures:
        return ok
    first = failures[0]
    more = f" (+{len(failures) - 1} more failed expectation(s))" if len(failures) > 1 else ""
    return first.summary(labels.get(first.file)) + more


def bronze_quality_result(provider: Provider, records: Sequence[LoadRecord], home: Home) -> dg.AssetCheckResult:
    """The `bronze_quality` check of one source partition: every bronze file just written (or unchanged)."""
    reports: list[ValidationReport] = []
    uncovered: list[str] = []
    for record in records:
        table = bronze_table(provider, record.bronze_file)
        suite = provider.quality_suite(table) if table else None
        if table is None or suite is None:
            uncovered.append(f"{record.dataset}: {table or record.bronze_file} has no quality suite")
            continue
        # The record holds the path the file had when it was loaded; a home that was copied or moved
        # since keeps its own copy at the same place under its own bronze folder.
        recorded = Path(record.bronze_file)
        bronze = home.bronze / provider.bronze_tables[table] / recorded.parent.name / recorded.name
        reports.append(validate_bronze(home, bronze if bronze.exists() else recorded, suite))
    failures = [f for r in reports for f in r.failures]
    labels = {r.file: _short(home, r.file) for r in reports}
    return dg.AssetCheckResult(
        check_name=BRONZE_QUALITY_CHECK,
        passed=not failures,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "files": dg.MetadataValue.json([labels[r.file] for r in reports]),
            "suites": ", ".join(sorted({r.suite for r in reports})) or "-",
            "rows_validated": sum(r.rows for r in reports),
            "expectations": sum(r.expectations for r in reports),
            "failed_expectations": len(failures),
            "seconds": round(sum(r.seconds for r in reports), 3),
            "validated_at": max((r.validated_at for r in reports), default="-"),
            "failures": dg.MetadataValue.md(failures_markdown(failures, labels)),
            "not_covered": "; ".join(uncovered) or "-",
        },
        description=_description(
            failures, labels,
            f"{sum(r.expectations for r in reports)} expectations passed on {sum(r.rows for r in reports)} bronze rows"
            if reports else f"not covered: {'; '.join(uncovered)}",
        ),
    )


def costs_suite(providers: Mapping[str, Provider]) -> Suite:
    """The generic `costs` suite plus each provider's own rules, judged on that provider's rows, plus the
    charge-period rule on the rows of the providers that guarantee it."""
    suite = COSTS_SUITE
    for provider in providers.values():
        own = provider.quality_suite("costs")
        if own is not None:
            suite = suite.merged(own.restricted(f'"ProviderName" = {sql_literal(provider.label)}'), name=suite.name)
    guaranteed = [p.label for p in providers.values() if p.charge_period_within_billing_period]
    if guaranteed:
        labels = ", ".join(sql_literal(label) for label in guaranteed)
        periods = Suite(name=suite.name, periods=(CHARGE_PERIOD_IN_BILLING_PERIOD,))
        suite = suite.merged(periods.restricted(f'"ProviderName" IN ({labels})'), name=suite.name)
    return suite


def costs_quality_result(home: Home, providers: Mapping[str, Provider]) -> dg.AssetCheckResult:
    """The `costs_quality` check: the build warehouse's `costs`, and the gate on what it was built from —
    every bronze file the dbt sources read must have passed its suite in its current content."""
    suite = costs_suite(providers)
    report = guarded(lambda: validate_relation(home.build_warehouse, "costs", suite, scratch=home.scratch / "quality"),
                      f"{home.build_warehouse}:costs", suite)
    gate: list[Failure] = []
    checked_files = 0
    for provider in providers.values():
        for table, path in bronze_files(home, provider):
            suite = provider.quality_suite(table)
            if suite is None:
                continue
            checked_files += 1
            verdict = validate_bronze(home, path, suite)
            gate += verdict.failures
    failures = report.failures + gate
    labels = {f.file: _short(home, f.file) for f in failures}
    labels[report.file] = "costs (build warehouse)"
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={
            "rows_validated": report.rows,
            "expectations": report.expectations,
            "seconds": report.seconds,
            "batches": report.batches,
            "bronze_files_gated": checked_files,
            "failed_expectations": len(failures),
            "failures": dg.MetadataValue.md(failures_markdown(failures, labels)),
        },
        description=_description(
            failures, labels,
            f"{report.expectations} expectations passed on {report.rows} costs rows; "
            f"{checked_files} bronze file(s) passed their suites",
        ),
    )


