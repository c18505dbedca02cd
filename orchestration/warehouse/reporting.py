"""The reporting currency and tags as inputs of a partition build.

Exchange rates. A (source, billing month) partition converts its rows at the rates of its own charge dates:
the days its bronze rows span (each provider names the bronze column that becomes ChargePeriodStart,
Provider.charge_start_columns; read from the Parquet footers, not the rows), in the currencies its load
records hold. For each such day and currency the rate is resolved here, once (the day's own rate, else the
last earlier one within the fallback window, connectors/exchange_rates.py), and both

- the partition's fingerprint holds exactly those resolved rates: a rates file that grows by a day, or
  corrects one, rebuilds the partitions whose days it changes and no other;
- dbt reads exactly those rates (<home>/build/inputs/reporting/partition_rates.parquet): a row whose day or
  currency has none gets NULL in the reporting currency, never 0, and the `reporting_currency_rates`
  check names the currency and dates.

Tags. The registry's tag rules (aliases, value normalization) and the tags entries declare for their rows
are registry facts of every partition of the source (build.registry_facts) and tables dbt reads
(<home>/build/inputs/registry/tag_rules.parquet, tag_settings.parquet, account_tags.parquet).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from connectors.duckdb_util import quote_identifier, sql_literal
from connectors.exchange_rates import (
    ExchangeRateFileError,
    ReportingRates,
    days_between,
    load_reporting_rates,
)
from connectors.records import LoadRecord
from orchestration.providers.base import Provider, RegistryTable
from registry import Registry
from registry.base import BaseAccount, month_start

RATES_FOLDER = "_rates"  # under the lake root: the published exchange_rates, one file per content

RATE_COLUMNS = (
    ("x_AccountKey", "VARCHAR"), ("x_BillingMonth", "VARCHAR"), ("ChargeDate", "DATE"), ("FromCurrency", "VARCHAR"),
    ("ToCurrency", "VARCHAR"), ("Rate", "DECIMAL(38,18)"), ("RateDate", "DATE"), ("RateSource", "VARCHAR"),
)
SETTING_COLUMNS = (("x_AccountKey", "VARCHAR"), ("x_BillingMonth", "VARCHAR"), ("ReportingCurrency", "VARCHAR"))
PUBLISHED_COLUMNS = (("RateDate", "DATE"), ("FromCurrency", "VARCHAR"), ("ToCurrency", "VARCHAR"),
                     ("Rate", "DECIMAL(38,18)"), ("Source", "VARCHAR"))


@dataclass(frozen=True)
class PartitionRates:
    """What one partition converts with: the reporting currency and the resolved rate of every (day, currency)
    it may need; a pair without a rate is absent."""

    currency: str
    max_fallback_days: int
    first_day: date
    last_day: date
    rates: tuple[tuple[date, str, Decimal, date, str], ...]  # (day, from currency, rate, rate's own day, source)

    def fingerprint(self) -> dict[str, object]:
        return {"currency": self.currency, "fallback_days": self.max_fallback_days,
                "days": [self.first_day.isoformat(), self.last_day.isoformat()],
                "rates": [[d.isoformat(), c, str(r), rd.isoformat(), s] for d, c, r, rd, s in self.rates]}


def reporting_rates(registry: Registry) -> ReportingRates | None:
    """The registry's rates into its reporting currency (None without an exchange_rates file)."""
    if registry.reporting_currency is None or registry.exchange_rates is None:
        return None
    settings = registry.exchange_rates
    return load_reporting_rates(settings.file, registry.reporting_currency, settings.max_fallback_days)


def _column_range(path: Path, column: str) -> tuple[date, date] | None:
    """(first, last) UTC date of a bronze column, from the Parquet footer's statistics (a scan only when a
    row group has none); None for a file without rows."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        low, high, groups, described = con.execute(
            "SELECT min(stats_min_value), max(stats_max_value), count(*), count(stats_min_value) "
            "FROM parquet_metadata(?) WHERE path_in_schema = ? AND row_group_num_rows > 0",
            [str(path), column],
        ).fetchone()
        if groups and described < groups:
            name = quote_identifier(column)
            low, high = con.execute(
                f"SELECT CAST(min({name}) AS VARCHAR), CAST(max({name}) AS VARCHAR) FROM read_parquet(?)",
                [str(path)]).fetchone()
    finally:
        con.close()
    if not groups or low is None or high is None:
        return None
    return date.fromisoformat(str(low)[:10]), date.fromisoformat(str(high)[:10])


def charge_days(provider: Provider, month: str, bronze: Iterable[tuple[str, Path]]) -> tuple[date, date]:
    """The first and last charge date of a partition's rows: the span of its bronze charge-start columns, or
    the billing month's days when the provider names none (or the files hold no rows)."""
    spans = [span for table, path in bronze if (column := provider.charge_start_columns.get(table))
             and (span := _column_range(path, column)) is not None]
    if not spans:
        first = month_start(month)
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first, following - timedelta(days=1)
    return min(s[0] for s in spans), max(s[1] for s in spans)


def partition_rates(registry: Registry, rates: ReportingRates | None, provider: Provider, month: str,
                    bronze: Sequence[tuple[str, Path, LoadRecord | None]]) -> PartitionRates | None:
    """The resolved rates of one partition (None when the registry sets no reporting currency)."""
    currency = registry.reporting_currency
    if currency is None:
        return None
    first, last = charge_days(provider, month, [(table, path) for table, path, _ in bronze])
    records = [record for _, _, record in bronze]
    if records and all(record is not None for record in records):
        currencies = sorted({t.currency for record in records if record for t in record.totals} - {currency})
    else:  # no load record to say which currencies the rows hold: every currency the file knows
        currencies = sorted(set(rates.series) if rates else set())
    found: list[tuple[date, str, Decimal, date, str]] = []
    if rates is not None:
        for day in days_between(first, last):
            for other in currencies:
                resolved = rates.on(other, day)
                if resolved is not None:
                    found.append((day, other, resolved[0], resolved[1], resolved[2]))
    fallback = registry.exchange_rates.max_fallback_days if registry.exchange_rates else 0
    return PartitionRates(currency, fallback, first, last, tuple(found))


_ARROW_TYPES = {"VARCHAR": pa.string(), "DATE": pa.date32(), "DECIMAL(38,18)": pa.decimal128(38, 18)}


def _write_rows(target: Path, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[object]]) -> None:
    """A Parquet file of typed rows, written atomically (through Arrow: row-by-row inserts into DuckDB take
    seconds for the rates of a long history)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".tmp-{uuid.uuid4().hex}-{target.name}")
    table = pa.table({name: pa.array([row[i] for row in rows], type=_ARROW_TYPES[kind])
                      for i, (name, kind) in enumerate(columns)})
    con = duckdb.connect()
    try:
        con.register("typed_rows", table)
        con.execute(f"COPY typed_rows TO {sql_literal(str(temp))} (FORMAT parquet)")
    finally:
        con.close()
    os.replace(temp, target)


def write_partition_rates(folder: Path, partitions: Iterable[tuple[str, str, PartitionRates | None]]) -> int:
    """<folder>/partition_rates.parquet and partition_settings.parquet for the partitions being built
    (zero-row files when none converts). Returns the rate rows written."""
    rate_rows: list[tuple[object, ...]] = []
    settings: list[tuple[object, ...]] = []
    for source, month, rates in partitions:
        if rates is None:
            continue
        settings.append((source, month, rates.currency))
        rate_rows += [(source, month, day, other, rates.currency, rate, rate_day, origin)
                      for day, other, rate, rate_day, origin in rates.rates]
    _write_rows(folder / "partition_rates.parquet", RATE_COLUMNS, rate_rows)
    _write_rows(folder / "partition_settings.parquet", SETTING_COLUMNS, settings)
    return len(rate_rows)


def tag_tables(registry: Registry) -> list[RegistryTable]:
    """The registry's tag facts dbt reads: the rules (tag_rules, tag_settings) and the tags entries declare
    (account_tags: the rows a source's rows inherit where they lack the key; sub_account_id NULL = every row
    of the source, otherwise the rows of that sub account, compared without regard to case)."""
    rules = registry.tag_rules
    folding = rules.values.case != "preserve"
    rule_rows: list[tuple[object, ...]] = [
        (key, spelling, position, folding and (rules.values.keys is None or key in rules.values.keys))
        for key in rules.canonical_keys
        for position, spelling in enumerate(rules.spellings(key))
    ]
    settings = [(rules.values.trim, rules.values.case, folding and rules.values.keys is None)]
    tag_rows: list[tuple[object, ...]] = []
    for source in registry.billing_sources:
        for member in registry.members_of(source.key):
            sub_account = None if member.key == source.key else member.provider_account_id.lower()
            tag_rows += [(source.key, sub_account, key, value) for key, value in sorted(member.tags.items())]
        for sub_account, tags in sorted(source.sub_account_tags.items()):
            tag_rows += [(source.key, sub_account.lower(), key, value) for key, value in sorted(tags.items())]
    return [
        RegistryTable("tag_rules", (("tag_key", "VARCHAR"), ("spelling", "VARCHAR"), ("position", "INTEGER"),
                                    ("fold_case", "BOOLEAN")), rule_rows),
        RegistryTable("tag_settings", (("trim_values", "BOOLEAN"), ("value_case", "VARCHAR"),
                                       ("fold_other_keys", "BOOLEAN")), settings),
        RegistryTable("account_tags", (("source_key", "VARCHAR"), ("sub_account_id", "VARCHAR"), ("tag_key", "VARCHAR"),
                                       ("tag_value", "VARCHAR")), tag_rows),
    ]


def tag_facts(registry: Registry, account: BaseAccount) -> dict[str, Any]:
    """What of the tag settings a source's partitions are built from (part of build.registry_facts)."""
    return {
        "tag_rules": registry.tag_rules.model_dump(mode="json"),
        "tags": {m.key: m.tags for m in registry.members_of(account.key)},
        "sub_account_tags": account.sub_account_tags,
    }


def publish_rates(lake_root: Path, registry: Registry) -> Path:
    """The `exchange_rates` relation as one Parquet file under <lake>/_rates/, named by what it is made of (the
    rates file's bytes and the reporting currency), written once: the file's own rates and every rate into
    the reporting currency it implies. Zero rows without a rates file."""
    settings = registry.exchange_rates
    made_of = hashlib.sha256(f"{registry.reporting_currency}|{settings.max_fallback_days if settings else ''}".encode())
    if settings is not None and registry.reporting_currency is not None:
        try:
            made_of.update(Path(settings.file).read_bytes())
        except OSError as error:
            raise ExchangeRateFileError(f"{settings.file}: cannot read the exchange-rate file ({error.strerror}); fix "
                                        "exchange_rates.file in the registry") from None
    target = lake_root / RATES_FOLDER / f"exchange_rates-{made_of.hexdigest()[:20]}.parquet"
    if target.exists():
        return target
    rates = reporting_rates(registry)
    rows: list[tuple[object, ...]] = []
    if rates is not None:
        own = {(q.day, q.from_currency, q.to_currency) for q in rates.file.quotes}
        rows = [(q.day, q.from_currency, q.to_currency, q.rate, q.source) for q in rates.file.quotes]
        rows += [(r.day, r.from_currency, r.to_currency, r.rate, r.source) for r in rates.derived()
                 if (r.day, r.from_currency, r.to_currency) not in own]
    _write_rows(target, PUBLISHED_COLUMNS, sorted(rows, key=lambda r: (r[1], r[2], r[0])))
    return target


def forget_old_rates(lake_root: Path, keep: Path, retention_hours: float) -> int:
    """Delete published rate files other than ``keep`` not used by a publish within the retention period (a
    session opened before a publish may still read the file the views named then)."""
    # Every publish touches the file it names, so a file's mtime is the last publish that used it.
    os.utime(keep)
    deleted = 0
    for path in (lake_root / RATES_FOLDER).glob("exchange_rates-*.parquet"):
        if path != keep and time.time() - path.stat().st_mtime > retention_hours * 3600:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


@dataclass(frozen=True)
class MissingRates:
    """Costs of one currency that have no rate into the reporting currency on some days."""

    currency: str
    reporting_currency: str
    days: tuple[date, ...]
    sources: tuple[str, ...]
    rows: int

    @property
    def summary(self) -> str:
        return (f"{self.currency} -> {self.reporting_currency}: no rate for {day_ranges(self.days)} "
                f"({self.rows} cost row(s) of {', '.join(self.sources)} have NULL x_*InReportingCurrency); add "
                f"those dates to the rates file, or raise exchange_rates.max_fallback_days")


def day_ranges(days: Sequence[date]) -> str:
    """'2026-10-03..2026-10-05, 2026-10-09': consecutive days written as one range."""
    parts: list[str] = []
    ordered = sorted(days)
    start = previous = ordered[0] if ordered else None
    for day in ordered[1:]:
        if previous is not None and (day - previous).days == 1:
            previous = day
            continue
        parts.append(f"{start}" if start == previous else f"{start}..{previous}")
        start = previous = day
    if start is not None:
        parts.append(f"{start}" if start == previous else f"{start}..{previous}")
    return ", ".join(parts)


def missing_rates(warehouse: Path) -> list[MissingRates]:
    """What the published warehouse could not convert into the reporting currency, per currency (from
    cost_daily: one row per day and currency, NULL in the reporting currency exactly when that day and
    currency had no rate)."""
    if not warehouse.exists():
        return []
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT "BillingCurrency", "x_ReportingCurrency", list(DISTINCT "ChargeDate" ORDER BY "ChargeDate"),
                      list(DISTINCT "x_AccountKey" ORDER BY "x_AccountKey"), sum("RowCount")
               FROM cost_daily
               WHERE "x_ReportingCurrency" IS NOT NULL AND "x_BilledCostInReportingCurrency" IS NULL
               GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
    finally:
        con.close()
    return [MissingRates(currency, reporting, tuple(days), tuple(sources), int(count))
            for currency, reporting, days, sources, count in rows]
