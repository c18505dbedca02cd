"""Deterministic GCP billing export rows for the demo and the tests, with exact Decimal totals.

Rows follow Google's export schema (nested records, credits as a repeated record). A month holds:
Compute Engine usage with sustained-use credits and resource-based committed-use (CUD) credits plus the
commitment's monthly fee rows; Cloud SQL usage covered by a spend-based (flexible) CUD with its fee;
Cloud Storage with free-tier credits; BigQuery with promotional (free trial) credits; network egress
with a negotiated discount; one tax row per project; a goodwill adjustment; a rounding-error row that
belongs to no project; labels and system labels. Rows are exported hours after the usage, so the last
days of a month arrive in the next month's first days (late rows, still of the earlier invoice month).
The detailed table holds the same charges split per resource (VMs), so its totals equal the standard's.

Money is generated as Decimal with 6 decimal places and written as FLOAT64 (the export's type): every
value has few enough digits to round-trip through a double exactly, so the oracle is exact.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PACIFIC = ZoneInfo("America/Los_Angeles")
SIX = Decimal("0.000001")


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    number: str


@dataclass(frozen=True)
class GcpSpec:
    key: str
    billing_account_id: str
    projects: tuple[Project, ...]
    currency: str = "USD"
    conversion_rate: Decimal = Decimal(1)
    seed: int = 7
    commitments: bool = True
    tax_rate: Decimal | None = Decimal("0.0825")
    days: int | None = None  # only the first N days of each month (small test months)
    late_rows: int = 0  # extra usage of the month's last day, exported 5 days after the month ended
    # Usage Google reported late and bills in this invoice month with its real (previous month) time, and
    # usage in the first UTC hours of the next month's 1st (still this month in Pacific time): N of each.
    late_reported_rows: int = 0


@dataclass(frozen=True)
class Totals:
    rows: int = 0
    cost: Decimal = Decimal(0)
    credits: Decimal = Decimal(0)

    @property
    def billed(self) -> Decimal:
        return self.cost + self.credits

    def __add__(self, other: Totals) -> Totals:
        return Totals(self.rows + other.rows, self.cost + other.cost, self.credits + other.credits)


@dataclass
class GeneratedMonth:
    billing_period: str
    standard: list[dict[str, Any]] = field(default_factory=list)
    detailed: list[dict[str, Any]] = field(default_factory=list)

    def rows(self, dataset: str) -> list[dict[str, Any]]:
        return self.standard if dataset == "standard" else self.detailed


def totals_of(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], Totals]:
    """Oracle: per (project id or '', currency), from the generated Decimal values."""
    result: dict[tuple[str, str], Totals] = {}
    for row in rows:
        key = ((row.get("project") or {}).get("id") or "", row["currency"])
        credits = sum((Decimal(c["amount"]) for c in row["credits"]), Decimal(0))
        result[key] = result.get(key, Totals()) + Totals(1, Decimal(row["cost"]), credits)
    return result


def billed_total(rows: Iterable[dict[str, Any]]) -> Decimal:
    return sum((t.billed for t in totals_of(rows).values()), Decimal(0))


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(SIX)


def _month_days(billing_period: str) -> list[datetime]:
    year, month = (int(x) for x in billing_period.split("-"))
    day = datetime(year, month, 1, tzinfo=PACIFIC)
    days = []
    while day.month == month:
        days.append(day)
        day = (day + timedelta(days=1, hours=3)).replace(hour=0)  # DST-safe step to the next local midnight
    return days


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


SERVICES = {
    "compute": ("6F81-5844-456A", "Compute Engine"),
    "sql": ("9662-B51E-5089", "Cloud SQL"),
    "storage": ("95FF-2EF5-5EA1", "Cloud Storage"),
    "bigquery": ("24E6-581D-38E5", "BigQuery"),
    "network": ("E505-1604-58F8", "Networking"),
    "invoice": ("", "Invoice"),
    "support": ("2062-016F-44A2", "Support"),
}


def _row(spec: GcpSpec, project: Project | None, service: str, sku: tuple[str, str], start: datetime,
         end: datetime, exported: datetime, cost: Decimal, credits: Sequence[dict[str, Any]], billing_period: str,
         *, usage: tuple[float, str, float, str] | None = None, region: str | None = "us-central1",
         cost_type: str = "regular", labels: Sequence[tuple[str, str]] = (), list_factor: Decimal = Decimal("1.1"),
         adjustment: dict[str, Any] | None = None) -> dict[str, Any]:
    amount, unit, pricing_amount, pricing_unit = usage or (0.0, "", 0.0, "")
    service_id, service_name = SERVICES[service]
    return {
        "billing_account_id": spec.billing_account_id,
        "service": {"id": service_id, "description": service_name},
        "sku": {"id": sku[0], "description": sku[1]},
        "usage_start_time": _utc(start),
        "usage_end_time": _utc(end),
        "project": None if project is None else {
            "id": project.id, "number": project.number, "name": project.name,
            "labels": [{"key": "cost-center", "value": project.name.split()[0].lower()}],
            "ancestry_numbers": f"/{project.number[:4]}/",
        },
        "labels": [{"key": k, "value": v} for k, v in labels],
        "system_labels": (
            [{"key": "compute.googleapis.com/machine_spec", "value": "n2-standard-4"}] if service == "compute" else []
        ),
        "location": {"location": region or "global", "country": "US" if region else None, "region": region,
                     "zone": f"{region}-a" if service == "compute" and region else None},
        "export_time": _utc(exported),
        "cost": cost,
        "currency": spec.currency,
        "currency_conversion_rate": spec.conversion_rate,
        "usage": {"amount": amount, "unit": unit, "amount_in_pricing_units": pricing_amount,
                  "pricing_unit": pricing_unit},
        "credits": list(credits),
        "invoice": {"month": billing_period.replace("-", "")},
        "cost_type": cost_type,
        "adjustment_info": adjustment,
        "cost_at_list": (cost * list_factor).quantize(SIX) if cost_type == "regular" else cost,
        "transaction_type": "GOOGLE",
        "seller_name": None,
    }


def _credit(kind: str, amount: Decimal, name: str, credit_id: str) -> dict[str, Any]:
    return {"name": name, "amount": amount, "full_name": name, "id": credit_id, "type": kind}


def generate_month(spec: GcpSpec, billing_period: str) -> GeneratedMonth:
    rng = random.Random(f"{spec.seed}:{spec.billing_account_id}:{billing_period}")
    days = _month_days(billing_period)[: spec.days]
    month = GeneratedMonth(billing_period)
    standard, detailed = month.standard, month.detailed

    def exported(end: datetime) -> datetime:
        # Billing data lands hours after the usage; the month's last day arrives in the next month.
        return end + timedelta(hours=rng.randint(4, 30), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))

    def add(row: dict[str, Any], resources: int = 1) -> None:
        standard.append(row)
        if resources < 2:
            # Charges of no resource (tax, fees, adjustments) have an empty resource in the detailed table.
            detailed.append({**row, "resource": _resource(row, 0) if resources else None})
            return
        # The detailed table splits the charge per resource; the parts add up to the standard row.
        parts = _split(row["cost"], resources, rng)
        credit_parts = [_split(c["amount"], resources, rng) for c in row["credits"]]
        for index in range(resources):
            detailed.append({
                **row, "cost": parts[index],
                "cost_at_list": (parts[index] * Decimal("1.1")).quantize(SIX),
                "credits": [{**c, "amount": credit_parts[i][index]} for i, c in enumerate(row["credits"])],
                "resource": _resource(row, index),
            })

    subtotal: dict[str, Decimal] = {p.id: Decimal(0) for p in spec.projects}
    fee_cpu = Decimal(0)
    fee_sql = Decimal(0)
    for day in days:
        next_day = day + timedelta(days=1, hours=3)
        next_day = next_day.replace(hour=0)
        for index, project in enumerate(spec.projects):
            for half in (0, 1):
                start = day + timedelta(hours=12 * half)
                end = start + timedelta(hours=12)
                hours = 12.0 * (2 + index)
                cpu = _money(rng.uniform(3, 9) * (1 + index))
                credits = [_credit("SUSTAINED_USAGE_DISCOUNT", -(cpu * Decimal("0.2")).quantize(SIX),
                                   "Sustained Usage Discount", "SUD")]
                if spec.commitments and index == 0:
                    covered = (cpu * Decimal("0.6")).quantize(SIX)
                    credits.append(_credit("COMMITTED_USAGE_DISCOUNT", -covered, "Committed use discount: CPU",
                                           "CommittedUsageDiscount:cpu-1y-us-central1"))
                    fee_cpu += (covered * Decimal("0.55")).quantize(SIX)
                add(_row(spec, project, "compute", ("CP-COMPUTEENGINE-N2-CORE", "N2 Instance Core running in Americas"),
                         start, end, exported(end), cpu, credits, billing_period,
                         usage=(hours * 3600, "seconds", hours, "hour"), labels=[("env", "prod" if index else "dev"),
                                                                                 ("team", project.name.split()[0])]),
                    resources=2)
                ram = _money(rng.uniform(1, 3) * (1 + index))
                add(_row(spec, project, "compute", ("CP-COMPUTEENGINE-N2-RAM", "N2 Instance Ram running in Americas"),
                         start, end, exported(end), ram,
                         [_credit("SUSTAINED_USAGE_DISCOUNT", -(ram * Decimal("0.2")).quantize(SIX),
                                  "Sustained Usage Discount", "SUD")],
                         billing_period, usage=(hours * 16 * 2**30 * 3600, "byte-seconds", hours * 16, "gibibyte hour"),
                         labels=[("env", "prod" if index else "dev")]),
                    resources=2)
                subtotal[project.id] += cpu + ram
            storage = _money(rng.uniform(0.5, 4))
            free = -min(storage, Decimal("0.25"))
            add(_row(spec, project, "storage", ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region"), day, next_day,
                     exported(next_day), storage, [_credit("FREE_TIER", free, "Free Tier", "FreeTier")] if index == 1 else [],
                     billing_period, usage=(3.2e15 * (1 + index), "byte-seconds", 41.5 * (1 + index), "gibibyte month"),
                     region="us", labels=[("bucket", f"{project.id}-data")]))
            egress = _money(rng.uniform(0.2, 2))
            add(_row(spec, project, "network", ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
                     day, next_day, exported(next_day), egress,
                     [_credit("DISCOUNT", -(egress * Decimal("0.1")).quantize(SIX), "Contract discount", "Discount")],
                     billing_period, usage=(1.5e10, "bytes", 13.97, "gibibyte")))
            subtotal[project.id] += storage + egress
        if spec.commitments and len(spec.projects) > 1:
            project = spec.projects[1]
            sql = _money(rng.uniform(4, 8))
            covered = (sql * Decimal("0.75")).quantize(SIX)
            add(_row(spec, project, "sql", ("5A5E-C3D1-F0C2", "Cloud SQL for PostgreSQL: Regional - vCPU in Americas"),
                     day, next_day, exported(next_day), sql,
                     [_credit("COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE", -covered, "Committed use discount - dollar based",
                              "CommittedUsageDiscountDollarBase:sql-1y")],
                     billing_period, usage=(86400.0 * 4, "seconds", 96.0, "hour")))
            fee_sql += (covered * Decimal("0.6")).quantize(SIX)
            subtotal[project.id] += sql
        project = spec.projects[-1]
        analysis = _money(rng.uniform(0.5, 5))
        promo = -min(analysis, _money(rng.uniform(0.3, 3)))
        add(_row(spec, project, "bigquery", ("F17B-412E-CB64", "Analysis"), day, next_day, exported(next_day), analysis,
                 [_credit("PROMOTION", promo, "FreeTrial:Credit-" + spec.billing_account_id,
                          "FreeTrial:Credit-" + spec.billing_account_id)],
                 billing_period, usage=(2.2e12, "bytes", 2.0, "tebibyte"), region="us"))
        subtotal[project.id] += analysis

    first, last = days[0], days[-1] + timedelta(days=1, hours=3)
    last = last.replace(hour=0)
    for index in range(spec.late_rows):
        # Late-arriving rows: usage of the last day, written to the export days after the month closed.
        project = spec.projects[index % len(spec.projects)]
        egress = _money(rng.uniform(0.1, 1))
        add(_row(spec, project, "network", ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
                 days[-1], last, last + timedelta(days=5, hours=index), egress, [], billing_period,
                 usage=(1.0e9, "bytes", 0.93, "gibibyte"), labels=[("late", "true")]))
    if spec.late_rows:
        # GCP rows carry no line-item id and the export may hold two identical rows: two real charges.
        add(dict(standard[-1]))
    for index in range(spec.late_reported_rows):
        project = spec.projects[(index + 1) % len(spec.projects)]
        # Reported late: usage of the previous month's last days, billed in this invoice month, so its
        # charge period starts before this billing period.
        usage_start = first - timedelta(days=2 + index, hours=-3)
        egress = _money(rng.uniform(0.1, 1))
        add(_row(spec, project, "network", ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
                 usage_start, usage_start + timedelta(hours=1), first + timedelta(days=1, hours=index), egress, [],
                 billing_period, usage=(2.0e8, "bytes", 0.186, "gibibyte"), labels=[("reported", "late")]))
        # The first UTC hours of the next month's 1st are this month's last evening in Pacific time.
        utc_start = last.astimezone(UTC).replace(hour=0, minute=0) + timedelta(hours=1 + index)
        egress = _money(rng.uniform(0.1, 1))
        add(_row(spec, project, "network", ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas"),
                 utc_start, utc_start + timedelta(hours=1), utc_start + timedelta(hours=6), egress, [],
                 billing_period, usage=(2.0e8, "bytes", 0.186, "gibibyte"), labels=[("hour", "early-utc")]))
    if spec.commitments:
        # Commitment fees: one row per day of the month, like Google's "Commitment v1" SKUs.
        for fee, project, sku, share in (
            # Bought in the last project and shared across the billing account (CUD sharing): its cost moves
            # to the projects whose usage it covered in EffectiveCost.
            (fee_cpu, spec.projects[-1], ("B0D3-4C57-83CD", "Commitment v1: Cpu in Americas for 1 Year"), "compute"),
            (fee_sql, spec.projects[1 if len(spec.projects) > 1 else 0],
             ("1A2B-3C4D-5E6F", "Commitment - dollar based v1: Cloud SQL for PostgreSQL: Regional - vCPU in Americas for 1 year"),
             "sql"),
        ):
            if fee == 0:
                continue
            daily = _split(fee, len(days), rng)
            for day, amount in zip(days, daily, strict=True):
                end = day + timedelta(days=1, hours=3)
                end = end.replace(hour=0)
                add(_row(spec, project, share, sku, day, end, exported(end), amount, [], billing_period,
                         usage=(86400.0, "seconds", 24.0, "hour"), list_factor=Decimal(1)), resources=0)
                subtotal[project.id] += amount
    if spec.tax_rate is not None:
        for project in spec.projects:
            tax = (subtotal[project.id] * spec.tax_rate).quantize(SIX)
            add(_row(spec, project, "invoice", ("", "Tax"), first, last, last + timedelta(days=2, hours=5), tax, [],
                     billing_period, region=None, cost_type="tax"), resources=0)
    add(_row(spec, spec.projects[0], "compute", ("CP-COMPUTEENGINE-N2-CORE", "N2 Instance Core running in Americas"),
             first, last, last + timedelta(days=3), -Decimal("12.500000"), [], billing_period,
             cost_type="adjustment", adjustment={"id": f"adj-{billing_period}", "description": "Goodwill credit for an outage",
                                                 "mode": "MANUAL_ADJUSTMENT", "type": "GOODWILL"}), resources=0)
    add(_row(spec, None, "support", ("", "Rounding error"), first, last, last + timedelta(days=3, hours=1),
             Decimal("0.000123"), [], billing_period, region=None, cost_type="rounding_error"), resources=0)
    return month


def _resource(row: dict[str, Any], index: int) -> dict[str, Any]:
    project = (row.get("project") or {}).get("id") or "billing"
    name = f"{row['service']['description'].lower().replace(' ', '-')}-{index + 1}"
    return {"name": name, "global_name": f"//compute.googleapis.com/projects/{project}/zones/us-central1-a/instances/{name}"}


def _split(amount: Decimal, parts: int, rng: random.Random) -> list[Decimal]:
    """``parts`` amounts of 6 decimals adding up to ``amount`` exactly."""
    if parts == 1:
        return [amount]
    weights = [Decimal(rng.randint(1, 9)) for _ in range(parts)]
    total = sum(weights)
    shares = [(amount * w / total).quantize(SIX) for w in weights[:-1]]
    return [*shares, amount - sum(shares, Decimal(0))]


# --- writing the export -------------------------------------------------------------------------------------


def json_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row as BigQuery's JSON export writes it: FLOAT64 as numbers, TIMESTAMP as 'YYYY-MM-DD HH:MM:SS UTC'."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(row)


def write_ndjson(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(json_row(row), separators=(",", ":")) + "\n")
    return path


def arrow_schema(detailed: bool) -> Any:
    import pyarrow as pa

    kv = pa.list_(pa.struct([("key", pa.string()), ("value", pa.string())]))
    ts = pa.timestamp("us", tz="UTC")
    fields = [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", ts), ("usage_end_time", ts),
        ("project", pa.struct([("id", pa.string()), ("number", pa.string()), ("name", pa.string()), ("labels", kv),
                               ("ancestry_numbers", pa.string())])),
        ("labels", kv), ("system_labels", kv),
        ("location", pa.struct([("location", pa.string()), ("country", pa.string()), ("region", pa.string()),
                                ("zone", pa.string())])),
        ("export_time", ts), ("cost", pa.float64()), ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        ("usage", pa.struct([("amount", pa.float64()), ("unit", pa.string()), ("amount_in_pricing_units", pa.float64()),
                             ("pricing_unit", pa.string())])),
        ("credits", pa.list_(pa.struct([("name", pa.string()), ("amount", pa.float64()), ("full_name", pa.string()),
                                        ("id", pa.string()), ("type", pa.string())]))),
        ("invoice", pa.struct([("month", pa.string())])),
        ("cost_type", pa.string()),
        ("adjustment_info", pa.struct([("id", pa.string()), ("description", pa.string()), ("mode", pa.string()),
                                       ("type", pa.string())])),
        ("cost_at_list", pa.float64()), ("transaction_type", pa.string()), ("seller_name", pa.string()),
    ]
    if detailed:
        fields.insert(9, ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])))
    return pa.schema(fields)


def _arrow_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _arrow_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_arrow_value(v) for v in value]
    return value


def write_parquet(path: Path, rows: Sequence[dict[str, Any]], detailed: bool) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    schema = arrow_schema(detailed)
    pq.write_table(pa.Table.from_pylist([_arrow_value(r) for r in rows], schema=schema), path)
    return path


def by_export_day(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the UTC day they were exported (one file per day, like daily export batches)."""
    days: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        days.setdefault(row["export_time"].strftime("%Y-%m-%d"), []).append(row)
    return dict(sorted(days.items()))


def write_export(folder: Path, rows: Iterable[dict[str, Any]], fmt: str, detailed: bool) -> list[Path]:
    """Write rows as daily export files (NDJSON or Parquet) under ``folder``."""
    written = []
    for day, day_rows in by_export_day(rows).items():
        if fmt == "ndjson":
            written.append(write_ndjson(folder / f"export-{day}.ndjson", day_rows))
        else:
            written.append(write_parquet(folder / f"export-{day}.parquet", day_rows, detailed))
    return written


def bigquery_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for BigQuery's insertAll (the emulator): timestamps as RFC 3339 text, money as numbers."""

    def convert(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(row)


# --- the demo -----------------------------------------------------------------------------------------------

DEMO_SOURCES: dict[str, tuple[GcpSpec, tuple[str, ...], dict[str, str], tuple[str, ...]]] = {
    # key: (spec, tables, file format per table, invoice months)
    "gcp-main": (
        GcpSpec("gcp-main", "01A2B3-C4D5E6-F7A8B9", (
            Project("acme-web-prod", "Web production", "412345678901"),
            Project("acme-data-platform", "Data platform", "412345678902"),
            Project("acme-ml-lab", "ML lab", "412345678903"),
        ), seed=31, late_rows=3, late_reported_rows=2),
        ("standard", "detailed"), {"standard": "ndjson", "detailed": "parquet"}, ("2026-09", "2026-10", "2026-11"),
    ),
    "gcp-eu": (
        GcpSpec("gcp-eu", "0F1E2D-3C4B5A-697887", (
            Project("acme-eu-shop", "EU shop", "512345678901"),
            Project("acme-eu-analytics", "EU analytics", "512345678902"),
        ), currency="EUR", conversion_rate=Decimal("0.92"), seed=37, commitments=False, tax_rate=Decimal("0.19")),
        ("standard",), {"standard": "parquet"}, ("2026-10", "2026-11"),
    ),
}


def generate_gcp_demo(root: Path) -> dict[str, dict[str, GeneratedMonth]]:
    """Write the demo's local export copies under ``root``/<key>; return the generated months (the oracle)."""
    oracle: dict[str, dict[str, GeneratedMonth]] = {}
    for key, (spec, tables, formats, months) in DEMO_SOURCES.items():
        generated = {month: generate_month(spec, month) for month in months}
        oracle[key] = generated
        for table in tables:
            folder = root / key / table if len(tables) > 1 else root / key
            rows = [row for month in generated.values() for row in month.rows(table)]
            write_export(folder, rows, formats[table], detailed=table == "detailed")
    return oracle


def costs_table(key: str) -> str:
    return "detailed" if "detailed" in DEMO_SOURCES[key][1] else "standard"


def gcp_expected_billed(oracle: dict[str, dict[str, GeneratedMonth]]) -> dict[str, dict[str, str]]:
    """Billed total (cost + credits) per source and month, from the generator's Decimals."""
    return {
        key: {month: str(billed_total(generated.rows(costs_table(key)))) for month, generated in sorted(months.items())}
        for key, months in oracle.items()
    }
