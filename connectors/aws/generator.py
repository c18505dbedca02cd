"""Deterministic generator of realistic AWS billing exports (legacy CUR and CUR 2.0).

It writes files exactly where and how AWS writes them into a bucket (``root`` stands for the
bucket root), so the project's readers, its demo and its benchmark run on data with the
provider's quirks: manifests that must be followed (stale files of earlier runs stay beside
the new ones), rewrites of a month, split cost allocation rows that repeat EC2 cost,
commitment rows whose amortized cost is not their unblended cost, ragged CSV rows,
account ids with leading zeros, MAP columns in CUR 2.0.

Every amount is generated as an exact decimal string (at most 10 decimal places, at most
15 significant digits, so a DOUBLE written from it prints back as the same decimal) and the
expected totals are summed from those strings with ``Decimal``: they are an oracle that
does not depend on any SQL the project writes.

Same inputs, same bytes: no wall clock, no unseeded randomness, fixed gzip/zip timestamps.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import random
import uuid
import zipfile
from base64 import b32encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "SPLIT_OPERATIONS",
    "AccountTotals",
    "GeneratedMonth",
    "LinkedAccount",
    "PayerSpec",
    "cur2_column_names",
    "default_spec",
    "legacy_column_names",
    "write_bench_cur2_month",
    "write_payer_month",
]

Fmt = Literal["cur", "cur2"]
Compression = Literal["gzip", "zip", "parquet"]

# Split cost allocation rows carry these operations. They re-state part of an EC2 instance's
# cost per pod/task, so adding them to a total counts that cost twice.
SPLIT_OPERATIONS: frozenset[str] = frozenset({"EKSPod-EC2", "ECSTask-EC2"})

_TOTAL_FIELDS = ("rows", "unblended", "blended", "effective", "split_rows", "split_unblended")
_ZERO = Decimal(0)
_TEN_DP = Decimal("1e-10")
_CENT = Decimal("0.01")
# Fixed namespace so run ids (assemblyId / executionId) are reproducible uuids.
_NAMESPACE = uuid.UUID("5b0f3c1e-6a43-4d8e-9c55-2f1d7a3e9b10")


# --------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkedAccount:
    account_id: str
    name: str


@dataclass(frozen=True)
class PayerSpec:
    """One payer's export definition (a legacy CUR report or a CUR 2.0 data export)."""

    fmt: Fmt
    bucket: str
    prefix: str
    name: str
    payer_account_id: str
    payer_name: str
    linked_accounts: tuple[LinkedAccount, ...]
    currency: str = "USD"
    # None means AWS's default for the format: gzip CSV for legacy CUR, Parquet for CUR 2.0.
    compression: Compression | None = None
    files_per_month: int = 1
    rows_per_account_day: int = 4
    discounts: bool = False
    ragged_rows: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.compression is None:
            object.__setattr__(self, "compression", "gzip" if self.fmt == "cur" else "parquet")
        if self.fmt not in ("cur", "cur2"):
            raise ValueError(f"PayerSpec {self.name!r}: fmt must be 'cur' or 'cur2', got {self.fmt!r}")
        if self.fmt == "cur2" and self.compression == "zip":
            raise ValueError(f"PayerSpec {self.name!r}: CUR 2.0 has no zip delivery; use gzip or parquet")
        if self.ragged_rows and not (self.fmt == "cur" and self.compression in ("gzip", "zip")):
            raise ValueError(f"PayerSpec {self.name!r}: ragged_rows applies to legacy CSV (gzip/zip) only")
        for account_id in (self.payer_account_id, *(a.account_id for a in self.linked_accounts)):
            if len(account_id) != 12 or not account_id.isdigit():
                raise ValueError(f"PayerSpec {self.name!r}: account id {account_id!r} must be 12 digits")
        if self.files_per_month < 1 or self.rows_per_account_day < 1 or self.ragged_rows < 0:
            raise ValueError(
                f"PayerSpec {self.name!r}: files_per_month and rows_per_account_day must be >= 1, "
                "ragged_rows >= 0"
            )
        if not self.name or "/" in self.name:
            raise ValueError(f"PayerSpec name {self.name!r} must be non-empty and contain no '/'")


@dataclass(frozen=True)
class AccountTotals:
    rows: int
    unblended: Decimal
    blended: Decimal
    effective: Decimal
    split_rows: int
    split_unblended: Decimal


@dataclass(frozen=True)
class GeneratedMonth:
    billing_period: str  # "YYYY-MM"
    run_id: str  # assemblyId / executionId
    manifest_key: str  # key relative to root
    data_keys: tuple[str, ...]
    currency: str
    totals: dict[str, AccountTotals]  # by usage account id

    def total(self, field: str, accounts: Iterable[str] | None = None) -> Decimal:
        """Sum one AccountTotals field over ``accounts`` (all accounts when None).

        An account with no rows in the month contributes zero rather than failing: callers ask
        for registered accounts, which need not all have spent something.
        """
        if field not in _TOTAL_FIELDS:
            raise ValueError(f"unknown total field {field!r}; expected one of {_TOTAL_FIELDS}")
        account_ids = list(self.totals) if accounts is None else list(accounts)
        result = _ZERO
        for account_id in account_ids:
            totals = self.totals.get(account_id)
            if totals is not None:
                result += Decimal(getattr(totals, field))
        return result


# --------------------------------------------------------------------------------------------
# Columns: one table drives the legacy CSV header, the legacy Parquet names and CUR 2.0.
# --------------------------------------------------------------------------------------------

Kind = Literal["str", "dec", "ts", "map"]


@dataclass(frozen=True)
class _Col:
    legacy: str | None  # "lineItem/UnblendedCost"; None: the column exists only in CUR 2.0
    cur2: str | None  # "line_item_unblended_cost"; None: the column exists only in legacy CUR
    kind: Kind
    source: str  # key of the generated row; "product.x" / "resource_tags.x" read a map entry
    discount_only: bool = False  # net_* columns appear only when the payer has discounts
    required: bool = False  # legacy manifest type String/BigDecimal instead of Optional*


def _c(
    legacy: str | None,
    cur2: str | None,
    kind: Kind,
    source: str | None = None,
    *,
    discount_only: bool = False,
    required: bool = False,
) -> _Col:
    src = source or cur2
    assert src is not None
    return _Col(legacy, cur2, kind, src, discount_only, required)


_COLUMNS: tuple[_Col, ...] = (
    _c("identity/LineItemId", "identity_line_item_id", "str", required=True),
    _c("identity/TimeInterval", "identity_time_interval", "str", required=True),
    _c("bill/InvoiceId", "bill_invoice_id", "str"),
    _c("bill/InvoicingEntity", "bill_invoicing_entity", "str"),
    _c("bill/BillingEntity", "bill_billing_entity", "str", required=True),
    _c("bill/BillType", "bill_bill_type", "str", required=True),
    _c("bill/PayerAccountId", "bill_payer_account_id", "str", required=True),
    _c(None, "bill_payer_account_name", "str"),
    _c("bill/BillingPeriodStartDate", "bill_billing_period_start_date", "ts", required=True),
    _c("bill/BillingPeriodEndDate", "bill_billing_period_end_date", "ts", required=True),
    _c("lineItem/UsageAccountId", "line_item_usage_account_id", "str", required=True),
    _c(None, "line_item_usage_account_name", "str"),
    _c("lineItem/LineItemType", "line_item_line_item_type", "str", required=True),
    _c("lineItem/UsageStartDate", "line_item_usage_start_date", "ts", required=True),
    _c("lineItem/UsageEndDate", "line_item_usage_end_date", "ts", required=True),
    _c("lineItem/ProductCode", "line_item_product_code", "str", required=True),
    _c("lineItem/UsageType", "line_item_usage_type", "str"),
    _c("lineItem/Operation", "line_item_operation", "str"),
    _c("lineItem/AvailabilityZone", "line_item_availability_zone", "str"),
    _c("lineItem/ResourceId", "line_item_resource_id", "str"),
    _c("lineItem/UsageAmount", "line_item_usage_amount", "dec"),
    _c("lineItem/CurrencyCode", "line_item_currency_code", "str", required=True),
    _c("lineItem/UnblendedRate", "line_item_unblended_rate", "dec"),
    _c("lineItem/UnblendedCost", "line_item_unblended_cost", "dec", required=True),
    _c("lineItem/BlendedRate", "line_item_blended_rate", "dec"),
    _c("lineItem/BlendedCost", "line_item_blended_cost", "dec", required=True),
    _c("lineItem/NetUnblendedCost", "line_item_net_unblended_cost", "dec", discount_only=True),
    _c("lineItem/LineItemDescription", "line_item_line_item_description", "str"),
    _c("lineItem/TaxType", "line_item_tax_type", "str"),
    _c("lineItem/LegalEntity", "line_item_legal_entity", "str"),
    _c("product/ProductName", None, "str", "product.product_name"),
    _c("product/instanceType", None, "str", "product.instance_type"),
    _c("product/location", "product_location", "str"),
    _c("product/productFamily", "product_product_family", "str"),
    # CUR 2.0 renamed product/region to product_region_code (the map keeps "region").
    _c("product/region", "product_region_code", "str"),
    _c("product/servicecode", "product_servicecode", "str"),
    _c("product/sku", "product_sku", "str"),
    _c(None, "product", "map"),
    _c("pricing/publicOnDemandCost", "pricing_public_on_demand_cost", "dec"),
    _c("pricing/publicOnDemandRate", "pricing_public_on_demand_rate", "dec"),
    _c("pricing/term", "pricing_term", "str"),
    _c("pricing/unit", "pricing_unit", "str"),
    _c("reservation/AmortizedUpfrontCostForUsage", "reservation_amortized_upfront_cost_for_usage", "dec"),
    _c(
        "reservation/AmortizedUpfrontFeeForBillingPeriod",
        "reservation_amortized_upfront_fee_for_billing_period",
        "dec",
    ),
    _c("reservation/EffectiveCost", "reservation_effective_cost", "dec"),
    _c("reservation/RecurringFeeForUsage", "reservation_recurring_fee_for_usage", "dec"),
    _c("reservation/ReservationARN", "reservation_reservation_a_r_n", "str"),
    _c(
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "dec",
    ),
    _c("reservation/UnusedRecurringFee", "reservation_unused_recurring_fee", "dec"),
    _c("savingsPlan/SavingsPlanARN", "savings_plan_savings_plan_a_r_n", "str"),
    _c("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost", "dec"),
    _c("savingsPlan/SavingsPlanRate", "savings_plan_savings_plan_rate", "dec"),
    _c("savingsPlan/TotalCommitmentToDate", "savings_plan_total_commitment_to_date", "dec"),
    _c("savingsPlan/UsedCommitment", "savings_plan_used_commitment", "dec"),
    _c("splitLineItem/ParentResourceId", "split_line_item_parent_resource_id", "str"),
    _c("splitLineItem/SplitCost", "split_line_item_split_cost", "dec"),
    _c(None, "cost_category", "map"),
    _c(None, "discount", "map"),
    _c(None, "resource_tags", "map"),
    # Tags come last in legacy CSV, so untagged rows end in empty fields: that is where real
    # exports get ragged (rows shorter than the header).
    _c("resourceTags/aws:createdBy", None, "str", "resource_tags.aws_created_by"),
    _c("resourceTags/user:env", None, "str", "resource_tags.user_env"),
    _c("resourceTags/user:team", None, "str", "resource_tags.user_team"),
)


def _legacy_snake(legacy_name: str) -> str:
    """Column name AWS uses for legacy CUR in Parquet: lineItem/UnblendedCost ->
    line_item_unblended_cost, savingsPlan/SavingsPlanARN -> savings_plan_savings_plan_a_r_n
    (every capital starts a new word, hence a_r_n), resourceTags/user:team -> resource_tags_user_team.
    """

    def snake(part: str) -> str:
        out: list[str] = []
        for index, char in enumerate(part.replace(":", "_")):
            if char.isupper() and index > 0 and out[-1] != "_":
                out.append("_")
            out.append(char.lower())
        return "".join(out)

    category, name = legacy_name.split("/", 1)
    return f"{snake(category)}_{snake(name)}"


def _legacy_columns(discounts: bool) -> list[_Col]:
    return [c for c in _COLUMNS if c.legacy is not None and (discounts or not c.discount_only)]


def _cur2_columns(discounts: bool) -> list[_Col]:
    # CUR 2.0's default query selects its columns in alphabetical order.
    cols = [c for c in _COLUMNS if c.cur2 is not None and (discounts or not c.discount_only)]
    return sorted(cols, key=lambda c: c.cur2 or "")


def legacy_column_names(*, discounts: bool = False, parquet: bool = False) -> list[str]:
    """Header of a legacy CUR data file (``category/Name``, or snake_case for Parquet)."""
    cols = _legacy_columns(discounts)
    return [_legacy_snake(c.legacy) if parquet else c.legacy for c in cols if c.legacy]


def cur2_column_names(*, discounts: bool = False) -> list[str]:
    """Columns of a CUR 2.0 data file, in file order."""
    return [c.cur2 for c in _cur2_columns(discounts) if c.cur2]


# --------------------------------------------------------------------------------------------
# Generated rows
# --------------------------------------------------------------------------------------------

Row = dict[str, Any]


@dataclass(frozen=True)
class _Region:
    code: str
    location: str
    usage_prefix: str  # us-east-1 usage types carry no prefix (BoxUsage:m5.large); others do


_REGIONS: tuple[_Region, ...] = (
    _Region("us-east-1", "US East (N. Virginia)", ""),
    _Region("eu-west-1", "EU (Ireland)", "EU-"),
    _Region("us-west-2", "US West (Oregon)", "USW2-"),
    _Region("eu-central-1", "EU (Frankfurt)", "EUC1-"),
    _Region("ap-southeast-2", "Asia Pacific (Sydney)", "APS2-"),
)


@dataclass(frozen=True)
class _Item:
    """One priced thing an account uses daily. Amount = Decimal(randint(lo, hi)) / scale."""

    key: str
    product_code: str
    product_name: str
    servicecode: str
    usage_type: str  # without region prefix
    operation: str
    unit: str
    rate: Decimal
    family: str
    sku: str
    resource: str  # instance | volume | bucket | db | function | none
    amount_lo: int
    amount_hi: int
    amount_scale: int
    description: str
    instance_type: str = ""
    blended_rate: Decimal | None = None  # differs from rate when the org's RIs blend the price
    taggable: bool = False
    zonal: bool = False


# A data table: one priced item per block reads better than one argument per line.
# fmt: off
_CATALOG: tuple[_Item, ...] = (
    _Item(
        "ec2", "AmazonEC2", "Amazon Elastic Compute Cloud", "AmazonEC2", "BoxUsage:m5.large",
        "RunInstances", "Hrs", Decimal("0.096"), "Compute Instance", "8KNQ7XB9BFD3S2TP", "instance",
        12, 24, 1, "$0.096 per On Demand Linux m5.large Instance Hour", "m5.large",
        blended_rate=Decimal("0.0912"), taggable=True, zonal=True,
    ),
    _Item(
        "s3", "AmazonS3", "Amazon Simple Storage Service", "AmazonS3", "TimedStorage-ByteHrs",
        "StandardStorage", "GB-Mo", Decimal("0.023"), "Storage", "WP9ANXZGBYYSGJEA", "bucket",
        10_000_000_000, 900_000_000_000, 10_000_000_000,
        "$0.023 per GB - first 50 TB / month of storage used", taggable=True,
    ),
    _Item(
        "dto", "AWSDataTransfer", "AWS Data Transfer", "AWSDataTransfer", "DataTransfer-Out-Bytes",
        "PublicIP-Out", "GB", Decimal("0.09"), "Data Transfer", "HQEH3ZWJVT5JGVXB", "instance",
        5_000_000_000, 2_000_000_000_000, 10_000_000_000,
        "$0.090 per GB - first 10 TB / month data transfer out",
    ),
    _Item(
        "rds", "AmazonRDS", "Amazon Relational Database Service", "AmazonRDS",
        "InstanceUsage:db.t3.medium", "CreateDBInstance:0002", "Hrs", Decimal("0.068"),
        "Database Instance", "QZ8CZWBZV4FQSXMJ", "db", 24, 24, 1,
        "$0.068 per RDS db.t3.medium Multi-AZ instance hour (or partial hour) running MySQL",
        "db.t3.medium", taggable=True, zonal=True,
    ),
    _Item(
        "ebs", "AmazonEC2", "Amazon Elastic Compute Cloud", "AmazonEC2", "EBS:VolumeUsage.gp3",
        "CreateVolume-Gp3", "GB-Mo", Decimal("0.08"), "Storage", "7U7TWP44UP36AT3R", "volume",
        1_000_000_000, 70_000_000_000, 10_000_000_000,
        "$0.08 per GB-month of General Purpose (gp3) provisioned storage", zonal=True,
    ),
    _Item(
        "lambda", "AWSLambda", "AWS Lambda", "AWSLambda", "Request", "Invoke", "Requests",
        Decimal("0.0000002"), "Serverless", "RKXYAJ5E7M8J9W4T", "function", 1_000, 5_000_000, 1,
        "AWS Lambda - Total Requests",
    ),
    _Item(
        "cw", "AmazonCloudWatch", "AmazonCloudWatch", "AmazonCloudWatch", "CW:MetricMonitorUsage",
        "MetricStorage", "Metrics", Decimal("0.3"), "Metric", "GQTFTJKNJPDYWVKE", "none",
        100_000_000, 9_000_000_000, 1_000_000_000, "$0.30 per metric-month - first 10,000 metrics",
    ),
)
# fmt: on

_TEAMS = ("platform", "data", "web", "ml")
_ENVS = ("prod", "staging", "dev")


@dataclass(frozen=True)
class _Period:
    label: str  # YYYY-MM
    start: datetime
    end: datetime

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def hours(self) -> int:
        return self.days * 24


def _parse_period(billing_period: str) -> _Period:
    try:
        start = datetime.strptime(billing_period, "%Y-%m")
    except ValueError as exc:
        raise ValueError(f"billing_period {billing_period!r} must be YYYY-MM") from exc
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return _Period(billing_period, start, end)


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def _hex(n: int, *parts: object) -> str:
    return _digest(*parts).hex()[:n]


def _q(value: Decimal) -> Decimal:
    """Round to 10 decimal places: the most AWS prints, and few enough digits that a DOUBLE
    written from the value prints back as the same decimal string."""
    return value.quantize(_TEN_DP, rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _run_id(spec: PayerSpec, billing_period: str, revision: int, tag: str = "") -> str:
    return str(
        uuid.uuid5(_NAMESPACE, f"{spec.fmt}|{spec.name}|{spec.seed}|{billing_period}|{revision}|{tag}")
    )


def _accounts(spec: PayerSpec) -> list[LinkedAccount]:
    accounts = [LinkedAccount(spec.payer_account_id, spec.payer_name)]
    seen = {spec.payer_account_id}
    for account in spec.linked_accounts:
        if account.account_id not in seen:
            accounts.append(account)
            seen.add(account.account_id)
    return accounts


class _MonthBuilder:
    """Builds the rows of one payer month, in the order AWS would list them."""

    def __init__(self, spec: PayerSpec, period: _Period, revision: int) -> None:
        self.spec = spec
        self.period = period
        self.revision = revision
        self.rng = random.Random(f"rows|{spec.name}|{spec.seed}|{period.label}")
        self.accounts = _accounts(spec)
        self.rows: list[Row] = []
        eur = spec.currency == "EUR"
        self.legal_entity = "Amazon Web Services EMEA SARL" if eur else "Amazon Web Services, Inc."
        # A month gets its invoice id when the invoice closes; AWS rewrites it then, so the
        # first delivery has none and later revisions carry one.
        self.invoice_id = (
            "" if revision == 0 else str(10**9 + int(_hex(8, spec.seed, period.label), 16) % 10**9)
        )
        self.regions = {
            a.account_id: _REGIONS[_digest(spec.seed, a.account_id)[0] % len(_REGIONS)] for a in self.accounts
        }
        n = len(self.accounts)
        payer = self.accounts[0]
        self.ri_account = self.accounts[1 % n]
        self.sp_account = self.accounts[2 % n]
        self.split_account = self.accounts[-1]
        self.ri_arn = (
            f"arn:aws:ec2:{self.regions[payer.account_id].code}:{payer.account_id}:"
            f"reserved-instances/{uuid.uuid5(_NAMESPACE, f'ri|{spec.name}|{spec.seed}')}"
        )
        self.sp_arn = (
            f"arn:aws:savingsplans::{payer.account_id}:savingsplan/"
            f"{uuid.uuid5(_NAMESPACE, f'sp|{spec.name}|{spec.seed}')}"
        )

    # ---- row skeleton -------------------------------------------------------------------

    def _row(
        self,
        account: LinkedAccount,
        line_item_type: str,
        key: str,
        start: datetime,
        end: datetime,
        *,
        product_code: str,
        unblended: Decimal,
        blended: Decimal | None = None,
        billing_entity: str = "AWS",
    ) -> Row:
        spec = self.spec
        row: Row = {c.source: None for c in _COLUMNS if "." not in c.source}
        row.update(
            identity_line_item_id=b32encode(
                _digest(spec.name, spec.seed, self.period.label, account.account_id, key)
            )
            .decode()
            .lower()
            .rstrip("=")[:52],
            identity_time_interval=f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            bill_invoice_id=self.invoice_id,
            bill_invoicing_entity=self.legal_entity,
            bill_billing_entity=billing_entity,
            bill_bill_type="Anniversary",
            bill_payer_account_id=spec.payer_account_id,
            bill_payer_account_name=spec.payer_name,
            bill_billing_period_start_date=self.period.start,
            bill_billing_period_end_date=self.period.end,
            line_item_usage_account_id=account.account_id,
            line_item_usage_account_name=account.name,
            line_item_line_item_type=line_item_type,
            line_item_usage_start_date=start,
            line_item_usage_end_date=end,
            line_item_product_code=product_code,
            line_item_currency_code=spec.currency,
            line_item_unblended_cost=unblended,
            line_item_blended_cost=unblended if blended is None else blended,
            line_item_legal_entity=self.legal_entity,
            product={},
            cost_category={},
            discount={},
            resource_tags={},
        )
        self.rows.append(row)
        return row

    def _resource_id(self, item: _Item, account: LinkedAccount, slot: int) -> str:
        region = self.regions[account.account_id].code
        tag = f"{account.account_id}|{item.resource}|{slot}"
        if item.resource == "instance":
            return f"i-{_hex(17, 'i', tag)}"
        if item.resource == "volume":
            return f"vol-{_hex(17, 'vol', tag)}"
        if item.resource == "bucket":
            return f"{account.name.lower().replace(' ', '-')}-{_TEAMS[slot % len(_TEAMS)]}-{slot}"
        if item.resource == "db":
            return f"arn:aws:rds:{region}:{account.account_id}:db:app-db-{slot}"
        if item.resource == "function":
            return f"arn:aws:lambda:{region}:{account.account_id}:function:handler-{slot}"
        return ""

    def _usage(self, account: LinkedAccount, item: _Item, day: datetime, slot: int, key: str) -> Row:
        region = self.regions[account.account_id]
        amount = Decimal(self.rng.randint(item.amount_lo, item.amount_hi)) / Decimal(item.amount_scale)
        unblended = _q(amount * item.rate)
        blended_rate = item.blended_rate if item.blended_rate is not None else item.rate
        row = self._row(
            account,
            "Usage",
            key,
            day,
            day + timedelta(days=1),
            product_code=item.product_code,
            unblended=unblended,
            blended=_q(amount * blended_rate),
        )
        # Data transfer bills against the instance that sent the bytes.
        resource_slot = 0 if item.key == "dto" else slot
        row.update(
            line_item_usage_type=region.usage_prefix + item.usage_type,
            line_item_operation=item.operation,
            line_item_availability_zone=f"{region.code}a" if item.zonal else "",
            line_item_resource_id=self._resource_id(item, account, resource_slot),
            line_item_usage_amount=amount,
            line_item_unblended_rate=item.rate,
            line_item_blended_rate=blended_rate,
            line_item_line_item_description=item.description,
            product_location=region.location,
            product_product_family=item.family,
            product_region_code=region.code,
            product_servicecode=item.servicecode,
            product_sku=item.sku,
            pricing_public_on_demand_cost=unblended,
            pricing_public_on_demand_rate=item.rate,
            pricing_term="OnDemand",
            pricing_unit=item.unit,
        )
        row["product"] = _product_map(item.product_name, region.code, item.instance_type)
        index = _digest(account.account_id, slot)[0]
        if item.taggable and (day.day + slot) % 3 != 0:
            row["resource_tags"] = {
                "user_team": _TEAMS[index % len(_TEAMS)],
                "user_env": _ENVS[(index + slot) % len(_ENVS)],
                "aws_created_by": f"IAMUser:AIDA{_hex(16, account.account_id).upper()}:deploy",
            }
        if item.key in ("ec2", "rds"):
            row["cost_category"] = {"business_unit": "engineering" if index % 2 else "product"}
        return row

    # ---- the month ------------------------------------------------------------------------

    def build(self) -> list[Row]:
        days = [self.period.start + timedelta(days=d) for d in range(self.period.days)]
        for day in days:
            for account in self.accounts:
                self._account_day(account, day)
            self._discounted_usage(day)
            self._savings_plan_day(day)
        self._ri_fees()
        self._monthly_adjustments()
        if self.revision:
            self._apply_revision(days[-1])
        if self.spec.discounts:
            self._apply_discounts()
        self._taxes()
        return self.rows

    def _account_day(self, account: LinkedAccount, day: datetime) -> None:
        offset = self.accounts.index(account)
        for slot in range(self.spec.rows_per_account_day):
            # Slot 0 is always the account's m5.large, so split cost rows have a parent.
            item = _CATALOG[0] if slot == 0 else _CATALOG[1 + (slot - 1 + offset) % (len(_CATALOG) - 1)]
            row = self._usage(account, item, day, slot, f"usage|{day:%d}|{slot}")
            if slot == 0 and account == self.split_account:
                self._split_rows(account, row, day)

    def _split_rows(self, account: LinkedAccount, parent: Row, day: datetime) -> None:
        """EKS/ECS split cost allocation: per pod/task rows that re-state a share of the
        instance's cost (non-zero unblended), pointing back at it by parent resource id."""
        region = self.regions[account.account_id]
        parent_cost: Decimal = parent["line_item_unblended_cost"]
        shares = (
            ("EKSPod-EC2", "web", Decimal("0.35")),
            ("EKSPod-EC2", "worker", Decimal("0.25")),
            ("ECSTask-EC2", "batch", Decimal("0.15")),
        )
        for index, (operation, workload, share) in enumerate(shares):
            cost = _q(parent_cost * share)
            row = self._row(
                account,
                "Usage",
                f"split|{day:%d}|{index}",
                day,
                day + timedelta(days=1),
                product_code="AmazonEC2",
                unblended=cost,
            )
            pod_id = uuid.uuid5(_NAMESPACE, f"{account.account_id}|{workload}|{day:%Y%m%d}")
            if operation == "EKSPod-EC2":
                resource = f"arn:aws:eks:{region.code}:{account.account_id}:pod/prod-cluster/default/{workload}/{pod_id}"
                usage_type = f"{region.usage_prefix}EKS-EC2-vCPU-Hours"
            else:
                resource = f"arn:aws:ecs:{region.code}:{account.account_id}:task/prod-cluster/{pod_id.hex}"
                usage_type = f"{region.usage_prefix}ECS-EC2-vCPU-Hours"
            row.update(
                line_item_usage_type=usage_type,
                line_item_operation=operation,
                line_item_availability_zone=parent["line_item_availability_zone"],
                line_item_resource_id=resource,
                line_item_usage_amount=_q(Decimal(2) * parent["line_item_usage_amount"] * share),
                line_item_line_item_description=f"{operation} split cost allocation",
                product_location=region.location,
                product_product_family="Compute Instance",
                product_region_code=region.code,
                product_servicecode="AmazonEC2",
                pricing_unit="vCPU-Hours",
                split_line_item_parent_resource_id=parent["line_item_resource_id"],
                split_line_item_split_cost=cost,
            )
            row["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.large")
            row["resource_tags"] = {"user_team": _TEAMS[index], "user_env": "prod"}

    # Reserved instance: partial upfront m5.xlarge, 525.60 upfront a year = 0.06/h amortized,
    # plus 0.05/h recurring, against 0.192/h on demand.
    _RI_UPFRONT_HOURLY = Decimal("0.06")
    _RI_RECURRING_HOURLY = Decimal("0.05")
    _RI_OD_RATE = Decimal("0.192")
    _RI_UNUSED_DAYS = 2  # the instance stops two days before month end: unused RI hours

    def _discounted_usage(self, day: datetime) -> None:
        if day.day > self.period.days - self._RI_UNUSED_DAYS:
            return
        account = self.ri_account
        region = self.regions[self.accounts[0].account_id]
        hours = Decimal(24)
        upfront = _q(hours * self._RI_UPFRONT_HOURLY)
        recurring = _q(hours * self._RI_RECURRING_HOURLY)
        # The RI's cost is billed on the RIFee line, so the covered usage is zero unblended.
        row = self._row(
            account,
            "DiscountedUsage",
            f"ri|{day:%d}",
            day,
            day + timedelta(days=1),
            product_code="AmazonEC2",
            unblended=_ZERO,
        )
        row.update(
            line_item_usage_type=f"{region.usage_prefix}BoxUsage:m5.xlarge",
            line_item_operation="RunInstances",
            line_item_availability_zone=f"{region.code}a",
            line_item_resource_id=self._resource_id(_CATALOG[0], account, 90),
            line_item_usage_amount=hours,
            line_item_unblended_rate=_ZERO,
            line_item_blended_rate=_ZERO,
            line_item_line_item_description="USD 0.05 hourly fee per Linux/UNIX (Amazon VPC), m5.xlarge instance",
            product_location=region.location,
            product_product_family="Compute Instance",
            product_region_code=region.code,
            product_servicecode="AmazonEC2",
            product_sku="Q5KJSQ8D6YCWXG4R",
            pricing_public_on_demand_cost=_q(hours * self._RI_OD_RATE),
            pricing_public_on_demand_rate=self._RI_OD_RATE,
            pricing_term="Reserved",
            pricing_unit="Hrs",
            reservation_reservation_a_r_n=self.ri_arn,
            reservation_amortized_upfront_cost_for_usage=upfront,
            reservation_recurring_fee_for_usage=recurring,
            reservation_effective_cost=upfront + recurring,
        )
        row["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")

    def _ri_fees(self) -> None:
        payer = self.accounts[0]
        region = self.regions[payer.account_id]
        start, end = self.period.start, self.period.end
        hours = Decimal(self.period.hours)
        unused_hours = Decimal(24 * self._RI_UNUSED_DAYS)
        recurring = _q(hours * self._RI_RECURRING_HOURLY)
        fee = self._row(payer, "RIFee", "rifee", start, end, product_code="AmazonEC2", unblended=recurring)
        fee.update(
            line_item_usage_type=f"{region.usage_prefix}HeavyUsage:m5.xlarge",
            line_item_operation="RunInstances",
            line_item_usage_amount=hours,
            line_item_unblended_rate=self._RI_RECURRING_HOURLY,
            line_item_blended_rate=self._RI_RECURRING_HOURLY,
            line_item_line_item_description="USD 0.05 hourly fee per Linux/UNIX (Amazon VPC), m5.xlarge instance",
            product_region_code=region.code,
            product_location=region.location,
            product_servicecode="AmazonEC2",
            pricing_term="Reserved",
            pricing_unit="Hrs",
            reservation_reservation_a_r_n=self.ri_arn,
            reservation_amortized_upfront_fee_for_billing_period=_q(hours * self._RI_UPFRONT_HOURLY),
            reservation_unused_amortized_upfront_fee_for_billing_period=_q(
                unused_hours * self._RI_UPFRONT_HOURLY
            ),
            reservation_unused_recurring_fee=_q(unused_hours * self._RI_RECURRING_HOURLY),
        )
        fee["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")
        # The upfront payment itself: a "Fee" line with the reservation's ARN. Its cost is
        # spread over the term by amortization, so its effective cost is zero.
        upfront = self._row(
            payer, "Fee", "riupfront", start, end, product_code="AmazonEC2", unblended=Decimal("525.6")
        )
        upfront.update(
            line_item_usage_type=f"{region.usage_prefix}HeavyUsage:m5.xlarge",
            line_item_usage_amount=Decimal(1),
            line_item_unblended_rate=Decimal("525.6"),
            line_item_blended_rate=Decimal("525.6"),
            line_item_line_item_description="Sign up charge for subscription: 1234567890, planId: 2194283",
            reservation_reservation_a_r_n=self.ri_arn,
            product_region_code=region.code,
        )
        upfront["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "m5.xlarge")

    # Compute Savings Plan: 0.06/h commitment; c5.large at 0.085/h on demand costs 0.054/h.
    _SP_COMMIT_HOURLY = Decimal("0.06")
    _SP_RATE = Decimal("0.054")
    _SP_OD_RATE = Decimal("0.085")

    def _savings_plan_day(self, day: datetime) -> None:
        account = self.sp_account
        payer = self.accounts[0]
        region = self.regions[account.account_id]
        next_day = day + timedelta(days=1)
        hours = Decimal(24)
        on_demand = _q(hours * self._SP_OD_RATE)
        sp_cost = _q(hours * self._SP_RATE)
        resource = self._resource_id(_CATALOG[0], account, 80)
        common = {
            "line_item_usage_type": f"{region.usage_prefix}BoxUsage:c5.large",
            "line_item_operation": "RunInstances",
            "line_item_availability_zone": f"{region.code}b",
            "line_item_resource_id": resource,
            "line_item_usage_amount": hours,
            "product_location": region.location,
            "product_product_family": "Compute Instance",
            "product_region_code": region.code,
            "product_servicecode": "AmazonEC2",
            "product_sku": "ZJCS6XQ2XRXWFG2D",
            "pricing_unit": "Hrs",
            "savings_plan_savings_plan_a_r_n": self.sp_arn,
        }
        # Covered usage keeps its on-demand price as unblended cost ...
        covered = self._row(
            account,
            "SavingsPlanCoveredUsage",
            f"spu|{day:%d}",
            day,
            next_day,
            product_code="AmazonEC2",
            unblended=on_demand,
        )
        covered.update(common)
        covered.update(
            line_item_unblended_rate=self._SP_OD_RATE,
            line_item_blended_rate=self._SP_OD_RATE,
            line_item_line_item_description="$0.085 per On Demand Linux c5.large Instance Hour",
            pricing_public_on_demand_cost=on_demand,
            pricing_public_on_demand_rate=self._SP_OD_RATE,
            pricing_term="OnDemand",
            savings_plan_savings_plan_rate=self._SP_RATE,
            savings_plan_savings_plan_effective_cost=sp_cost,
        )
        covered["product"] = _product_map("Amazon Elastic Compute Cloud", region.code, "c5.large")
        covered["resource_tags"] = {"user_team": "ml", "user_env": "prod"}
        # ... and a negation line in the same account takes it back out of the unblended total.
        negation = self._row(
            account,
            "SavingsPlanNegation",
            f"spn|{day:%d}",
            day,
            next_day,
            product_code="ComputeSavingsPlans",
            unblended=-on_demand,
        )
        negation.update(common)
        negation.update(
            line_item_unblended_rate=-self._SP_OD_RATE,
            line_item_blended_rate=-self._SP_OD_RATE,
            line_item_line_item_description=(
                f"SavingsPlanNegation used by AccountId : {account.account_id} and UsageSku : ZJCS6XQ2XRXWFG2D"
            ),
        )
        # The commitment is billed daily on the payer; only the unused part is effective cost.
        commitment = _q(hours * self._SP_COMMIT_HOURLY)
        fee = self._row(
            payer,
            "SavingsPlanRecurringFee",
            f"spfee|{day:%d}",
            day,
            next_day,
            product_code="ComputeSavingsPlans",
            unblended=commitment,
        )
        fee.update(
            line_item_usage_type="ComputeSP:1yrNoUpfront",
            line_item_operation="",
            line_item_resource_id=self.sp_arn,
            line_item_usage_amount=hours,
            line_item_unblended_rate=self._SP_COMMIT_HOURLY,
            line_item_blended_rate=self._SP_COMMIT_HOURLY,
            line_item_line_item_description="1 year No Upfront Compute Savings Plan",
            product_product_family="Savings Plans",
            product_servicecode="ComputeSavingsPlans",
            savings_plan_savings_plan_a_r_n=self.sp_arn,
            savings_plan_total_commitment_to_date=commitment,
            savings_plan_used_commitment=sp_cost,
            savings_plan_savings_plan_rate=self._SP_COMMIT_HOURLY,
        )
        fee["product"] = {"product_name": "Savings Plans for AWS Compute usage"}

    def _monthly_adjustments(self) -> None:
        start, end = self.period.start, self.period.end
        credit_account = self.accounts[1 % len(self.accounts)]
        credit = self._row(
            credit_account,
            "Credit",
            "credit",
            start,
            end,
            product_code="AmazonEC2",
            unblended=-Decimal(self.rng.randint(1000, 6000)) / 100,
        )
        credit.update(line_item_line_item_description="AWS Credits - Promotional Credit")
        credit["product"] = {"product_name": "Amazon Elastic Compute Cloud"}
        if self.rng.random() < 0.5:
            payer = self.accounts[0]
            refund = self._row(
                payer,
                "Refund",
                "refund",
                start,
                end,
                product_code="AmazonS3",
                unblended=-Decimal(self.rng.randint(100, 2500)) / 100,
            )
            refund.update(line_item_line_item_description="Refund for AWS service disruption")
            refund["product"] = {"product_name": "Amazon Simple Storage Service"}
        # Marketplace software is billed by "AWS Marketplace", with the seller as legal entity.
        mp_account = self.accounts[1 % len(self.accounts)]
        price = Decimal("199.99")
        market = self._row(
            mp_account,
            "Usage",
            "marketplace",
            start,
            end,
            product_code="8xk2lrw4u9ysbr0wq3tz5hnl0",
            unblended=price,
            billing_entity="AWS Marketplace",
        )
        market.update(
            line_item_usage_type="MP:ProfessionalTier",
            line_item_operation="Subscribe",
            line_item_usage_amount=Decimal(1),
            line_item_unblended_rate=price,
            line_item_blended_rate=price,
            line_item_line_item_description="Acme Observability Platform - Professional tier, monthly",
            line_item_legal_entity="Acme Software, Inc.",
            product_sku="8xk2lrw4u9ysbr0wq3tz5hnl0",
            pricing_term="OnDemand",
            pricing_unit="Units",
            pricing_public_on_demand_cost=price,
            pricing_public_on_demand_rate=price,
        )
        market["product"] = {"product_name": "Acme Observability Platform"}

    def _apply_revision(self, last_day: datetime) -> None:
        """A rewrite of the month: late-arriving usage for every account and one re-rated
        amount, so a reader that kept the earlier run's files gets different totals."""
        rng = random.Random(f"revision|{self.spec.name}|{self.spec.seed}|{self.period.label}|{self.revision}")
        late_items = (_CATALOG[1], _CATALOG[2])
        for account in self.accounts:
            for n in range(2 * self.revision):
                item = late_items[n % 2]
                row = self._usage(account, item, last_day, 50 + n, f"late|{self.revision}|{n}")
                row["line_item_line_item_description"] = item.description
        target = next(r for r in self.rows if r["line_item_operation"] == "PublicIP-Out")
        extra = Decimal(rng.randint(1, 500)) / 10
        amount = target["line_item_usage_amount"] + extra
        target["line_item_usage_amount"] = amount
        target["line_item_unblended_cost"] = _q(amount * target["line_item_unblended_rate"])
        target["line_item_blended_cost"] = _q(amount * target["line_item_blended_rate"])
        target["pricing_public_on_demand_cost"] = target["line_item_unblended_cost"]

    _EDP_RATE = Decimal("0.05")

    def _apply_discounts(self) -> None:
        """Payers with a private discount (EDP) get net_* columns. AWS-billed usage is 5%
        cheaper net; one EdpDiscount line per account carries the discount in unblended terms
        and has a zero net cost, because the discount already sits in the usage rows' net."""
        per_account: dict[str, Decimal] = {}
        for row in self.rows:
            row["line_item_net_unblended_cost"] = row["line_item_unblended_cost"]
            if row["line_item_line_item_type"] != "Usage" or row["bill_billing_entity"] != "AWS":
                continue
            cut = _q(row["line_item_unblended_cost"] * self._EDP_RATE)
            if not cut:
                continue
            row["line_item_net_unblended_cost"] = row["line_item_unblended_cost"] - cut
            row["discount"] = {"edp_discount": _fmt(-cut), "total_discount": _fmt(-cut)}
            if row["line_item_operation"] not in SPLIT_OPERATIONS:
                account_id = row["line_item_usage_account_id"]
                per_account[account_id] = per_account.get(account_id, _ZERO) + cut
        start, end = self.period.start, self.period.end
        for account in self.accounts:
            cut = per_account.get(account.account_id, _ZERO)
            if not cut:
                continue
            row = self._row(
                account, "EdpDiscount", "edp", start, end, product_code="AmazonEC2", unblended=-cut
            )
            row.update(
                line_item_line_item_description="Enterprise Program Discount",
                line_item_net_unblended_cost=_ZERO,
                discount={"edp_discount": _fmt(-cut), "total_discount": _fmt(-cut)},
            )

    def _taxes(self) -> None:
        start, end = self.period.start, self.period.end
        spent: dict[str, Decimal] = {}
        for row in self.rows:
            if row["bill_billing_entity"] == "AWS" and row["line_item_operation"] not in SPLIT_OPERATIONS:
                account_id = row["line_item_usage_account_id"]
                spent[account_id] = spent.get(account_id, _ZERO) + row["line_item_unblended_cost"]
        for account in self.accounts:
            amount = max(_ZERO, spent.get(account.account_id, _ZERO) * Decimal("0.08")).quantize(_CENT)
            tax = self._row(account, "Tax", "tax", start, end, product_code="AmazonEC2", unblended=amount)
            tax.update(
                line_item_usage_amount=Decimal(1),
                line_item_line_item_description="Tax for product code AmazonEC2",
                line_item_tax_type="VAT" if self.spec.currency == "EUR" else "Sales Tax",
            )
            tax["product"] = {"product_name": "Amazon Elastic Compute Cloud"}
            if self.spec.discounts:
                tax["line_item_net_unblended_cost"] = amount


def _product_map(product_name: str, region: str, instance_type: str = "") -> dict[str, str]:
    entries = {"product_name": product_name, "region": region, "instance_type": instance_type}
    return {k: v for k, v in entries.items() if v}


def _effective_cost(row: Row, has_net: bool) -> Decimal:
    """Amortized cost by line item type (BILLING-EDGE-CASES, "Amortization")."""
    line_item_type = row["line_item_line_item_type"]
    if line_item_type == "SavingsPlanCoveredUsage":
        return _dec(row["savings_plan_savings_plan_effective_cost"])
    if line_item_type == "DiscountedUsage":
        return _dec(row["reservation_effective_cost"])
    if line_item_type == "SavingsPlanRecurringFee":
        return _dec(row["savings_plan_total_commitment_to_date"]) - _dec(row["savings_plan_used_commitment"])
    if line_item_type == "RIFee":
        return _dec(row["reservation_unused_amortized_upfront_fee_for_billing_period"]) + _dec(
            row["reservation_unused_recurring_fee"]
        )
    if line_item_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return _ZERO
    if line_item_type == "Fee" and row["reservation_reservation_a_r_n"]:
        return _ZERO
    return _dec(row["line_item_net_unblended_cost"] if has_net else row["line_item_unblended_cost"])


def _dec(value: Decimal | None) -> Decimal:
    return _ZERO if value is None else value


def _totals(
    rows: Sequence[Row], has_net: bool, weights: Sequence[int] | None = None
) -> dict[str, AccountTotals]:
    acc: dict[str, list[Any]] = {}
    for index, row in enumerate(rows):
        weight = 1 if weights is None else weights[index]
        if not weight:
            continue
        entry = acc.setdefault(row["line_item_usage_account_id"], [0, _ZERO, _ZERO, _ZERO, 0, _ZERO])
        unblended = _dec(row["line_item_unblended_cost"])
        if row["line_item_operation"] in SPLIT_OPERATIONS:
            entry[4] += weight
            entry[5] += unblended * weight
            continue
        entry[0] += weight
        entry[1] += unblended * weight
        entry[2] += _dec(row["line_item_blended_cost"]) * weight
        entry[3] += _effective_cost(row, has_net) * weight
    return {account_id: AccountTotals(*values) for account_id, values in sorted(acc.items())}


def _check_double_safe(rows: Sequence[Row]) -> None:
    """Amounts must survive float(): <= 15 significant digits, no exponent in the CSV text."""
    dec_sources = [c.source for c in _COLUMNS if c.kind == "dec"]
    for row in rows:
        for source in dec_sources:
            value = row.get(source)
            if value is None:
                continue
            exponent = value.as_tuple().exponent
            if (
                len(value.normalize().as_tuple().digits) > 15
                or not isinstance(exponent, int)
                or exponent < -10
            ):
                raise AssertionError(f"{source}={value} in {row['identity_line_item_id']} is not double-safe")


def _build_rows(spec: PayerSpec, billing_period: str, revision: int) -> list[Row]:
    rows = _MonthBuilder(spec, _parse_period(billing_period), revision).build()
    _check_double_safe(rows)
    return rows


# --------------------------------------------------------------------------------------------
# Serialisation
# --------------------------------------------------------------------------------------------


def _value(row: Row, source: str) -> Any:
    if "." in source:
        map_name, key = source.split(".", 1)
        return row[map_name].get(key) or None
    return row.get(source)


def _csv_cell(value: Any, kind: Kind, cur2: bool) -> str:
    if value is None:
        return ""
    if kind == "dec":
        return _fmt(value)
    if kind == "ts":
        # Legacy CSV: 2026-09-01T00:00:00Z. CUR 2.0 CSV prints milliseconds.
        return f"{value:%Y-%m-%dT%H:%M:%S}.000Z" if cur2 else f"{value:%Y-%m-%dT%H:%M:%SZ}"
    if kind == "map":
        # CUR 2.0 CSV writes MAP columns as JSON objects.
        return json.dumps(dict(sorted(value.items())), separators=(",", ":"))
    return str(value)


def _csv_bytes(header: Sequence[str], lines: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(lines)
    return buffer.getvalue().encode("utf-8")


def _gzip_bytes(data: bytes) -> bytes:
    buffer = io.BytesIO()
    # mtime=0 and no file name in the header: the same rows give the same bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def _zip_bytes(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, data)
    return buffer.getvalue()


def _arrow_type(kind: Kind) -> pa.DataType:
    if kind == "dec":
        return pa.float64()  # AWS writes amounts as DOUBLE in Parquet
    if kind == "ts":
        return pa.timestamp("us")
    if kind == "map":
        return pa.map_(pa.string(), pa.string())
    return pa.string()


def _arrow_table(rows: Sequence[Row], columns: Sequence[_Col], names: Sequence[str]) -> pa.Table:
    arrays = []
    for col in columns:
        values = [_value(row, col.source) for row in rows]
        if col.kind == "dec":
            values = [None if v is None else float(v) for v in values]
        elif col.kind == "map":
            values = [sorted(v.items()) for v in values]
        arrays.append(pa.array(values, type=_arrow_type(col.kind)))
    return pa.Table.from_arrays(arrays, names=list(names))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _atomic_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)


def _key(*parts: str) -> str:
    # An empty prefix must not leave a leading slash: S3 keys do not start with one.
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def _chunks(count: int, parts: int) -> list[tuple[int, int]]:
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        bounds.append((start, end))
        start = end
    return bounds


# --------------------------------------------------------------------------------------------
# Layouts and manifests
# --------------------------------------------------------------------------------------------


def _legacy_manifest_type(col: _Col) -> str:
    if col.kind == "ts":
        return "DateTime"
    if col.source == "identity_time_interval":
        return "Interval"
    if col.kind == "dec":
        return "BigDecimal" if col.required else "OptionalBigDecimal"
    return "String" if col.required else "OptionalString"


def _cur2_manifest_type(kind: Kind) -> str:
    return {"str": "string", "dec": "double", "ts": "timestamp", "map": "map<string,string>"}[kind]


def _write_legacy(
    root: Path, spec: PayerSpec, period: _Period, revision: int, rows: list[Row]
) -> tuple[str, str, list[str]]:
    assembly_id = _run_id(spec, period.label, revision)
    range_folder = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    base = _key(spec.prefix, spec.name, range_folder)
    columns = _legacy_columns(spec.discounts)
    compression = spec.compression
    suffix = {"gzip": "csv.gz", "zip": "csv.zip", "parquet": "snappy.parquet"}[compression or "gzip"]
    bounds = _chunks(len(rows), spec.files_per_month)
    data_keys = [_key(base, assembly_id, f"{spec.name}-{n}.{suffix}") for n in range(1, len(bounds) + 1)]

    if compression == "parquet":
        names = [_legacy_snake(c.legacy or "") for c in columns]
        for (lo, hi), key in zip(bounds, data_keys, strict=True):
            _atomic_parquet(root / key, _arrow_table(rows[lo:hi], columns, names))
    else:
        lines = [[_csv_cell(_value(row, c.source), c.kind, cur2=False) for c in columns] for row in rows]
        _make_ragged(lines, spec, period)
        header = [c.legacy or "" for c in columns]
        for n, ((lo, hi), key) in enumerate(zip(bounds, data_keys, strict=True), start=1):
            data = _csv_bytes(header, lines[lo:hi])
            payload = _gzip_bytes(data) if compression == "gzip" else _zip_bytes(f"{spec.name}-{n}.csv", data)
            _atomic_write(root / key, payload)

    manifest = {
        "assemblyId": assembly_id,
        "account": spec.payer_account_id,
        "columns": [
            {
                "category": (c.legacy or "").split("/")[0],
                "name": (c.legacy or "").split("/", 1)[1],
                "type": _legacy_manifest_type(c),
            }
            for c in columns
        ],
        "charset": "UTF-8",
        "compression": {"gzip": "GZIP", "zip": "ZIP", "parquet": "Parquet"}[compression or "gzip"],
        "contentType": "application/Parquet" if compression == "parquet" else "text/csv",
        "reportId": hashlib.sha256(f"{spec.payer_account_id}|{spec.name}".encode()).hexdigest(),
        "reportName": spec.name,
        "billingPeriod": {
            "start": f"{period.start:%Y%m%dT%H%M%S}.000Z",
            "end": f"{period.end:%Y%m%dT%H%M%S}.000Z",
        },
        "bucket": spec.bucket,
        "reportKeys": data_keys,
        "additionalArtifactKeys": [],
    }
    manifest_key = _key(base, f"{spec.name}-Manifest.json")
    # Data first, manifest last: a reader never sees a manifest naming files not yet written.
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    return assembly_id, manifest_key, data_keys


def _make_ragged(lines: list[list[str]], spec: PayerSpec, period: _Period) -> None:
    """Drop the trailing empty fields of ``spec.ragged_rows`` rows, as some real exports do."""
    if not spec.ragged_rows:
        return
    eligible = [index for index, cells in enumerate(lines) if cells[-1] == ""]
    if len(eligible) < spec.ragged_rows:
        raise ValueError(
            f"PayerSpec {spec.name!r}: ragged_rows={spec.ragged_rows} but only {len(eligible)} rows "
            f"of {period.label} end in empty fields"
        )
    rng = random.Random(f"ragged|{spec.name}|{spec.seed}|{period.label}")
    for index in rng.sample(eligible, spec.ragged_rows):
        cells = lines[index]
        while cells and cells[-1] == "":
            cells.pop()


def _cur2_manifest(
    spec: PayerSpec, period: _Period, execution_id: str, data_keys: Sequence[str], columns: Sequence[_Col]
) -> dict[str, Any]:
    export_id = uuid.uuid5(_NAMESPACE, f"export|{spec.payer_account_id}|{spec.name}")
    parquet = spec.compression == "parquet"
    return {
        "executionId": execution_id,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{spec.payer_account_id}:export/{spec.name}-{export_id}",
        "exportName": spec.name,
        "billingPeriod": {
            "start": f"{period.start:%Y-%m-%dT%H:%M:%S}.000Z",
            "end": f"{period.end:%Y-%m-%dT%H:%M:%S}.000Z",
        },
        "bucket": spec.bucket,
        "format": "PARQUET" if parquet else "TEXT_OR_CSV",
        "compression": "PARQUET" if parquet else "GZIP",
        "columns": [{"name": c.cur2, "type": _cur2_manifest_type(c.kind)} for c in columns],
        "dataFiles": [f"s3://{spec.bucket}/{key}" for key in data_keys],
    }


def _cur2_paths(spec: PayerSpec, period: _Period, execution_id: str, count: int) -> tuple[str, list[str]]:
    partition = f"BILLING_PERIOD={period.label}"
    suffix = "snappy.parquet" if spec.compression == "parquet" else "csv.gz"
    data_keys = [
        _key(spec.prefix, spec.name, "data", partition, execution_id, f"{spec.name}-{n:05d}.{suffix}")
        for n in range(1, count + 1)
    ]
    manifest_key = _key(spec.prefix, spec.name, "metadata", partition, f"{spec.name}-Manifest.json")
    return manifest_key, data_keys


def _write_cur2(
    root: Path, spec: PayerSpec, period: _Period, revision: int, rows: list[Row]
) -> tuple[str, str, list[str]]:
    execution_id = _run_id(spec, period.label, revision)
    columns = _cur2_columns(spec.discounts)
    bounds = _chunks(len(rows), spec.files_per_month)
    manifest_key, data_keys = _cur2_paths(spec, period, execution_id, len(bounds))
    names = [c.cur2 or "" for c in columns]
    for (lo, hi), key in zip(bounds, data_keys, strict=True):
        if spec.compression == "parquet":
            _atomic_parquet(root / key, _arrow_table(rows[lo:hi], columns, names))
        else:
            lines = [
                [_csv_cell(_value(row, c.source), c.kind, cur2=True) for c in columns] for row in rows[lo:hi]
            ]
            _atomic_write(root / key, _gzip_bytes(_csv_bytes(names, lines)))
    manifest = _cur2_manifest(spec, period, execution_id, data_keys, columns)
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    return execution_id, manifest_key, data_keys


# --------------------------------------------------------------------------------------------
# Public writers
# --------------------------------------------------------------------------------------------


def write_payer_month(
    root: Path, spec: PayerSpec, billing_period: str, *, revision: int = 0
) -> GeneratedMonth:
    """Write one delivery of ``billing_period`` for ``spec`` under ``root`` (the bucket root).

    ``revision`` > 0 is a rewrite of the month: a new assembly/execution id, new data files in
    a new run folder and an overwritten manifest; earlier runs' data files are left in place,
    as AWS leaves them. Returns the keys written and the expected totals.
    """
    if revision < 0:
        raise ValueError(f"revision must be >= 0, got {revision}")
    period = _parse_period(billing_period)
    rows = _build_rows(spec, billing_period, revision)
    writer = _write_legacy if spec.fmt == "cur" else _write_cur2
    run_id, manifest_key, data_keys = writer(Path(root), spec, period, revision, rows)
    return GeneratedMonth(
        billing_period=billing_period,
        run_id=run_id,
        manifest_key=manifest_key,
        data_keys=tuple(data_keys),
        currency=spec.currency,
        totals=_totals(rows, spec.discounts),
    )


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: Sequence[Any], kind: Kind) -> str:
    """A constant list literal. Decimals go in as text and are cast by DuckDB, which rounds
    text to DOUBLE exactly as Python's float() does, so bench files hold the same doubles."""
    items: list[str] = []
    for value in values:
        if value is None:
            items.append("NULL")
        elif kind == "dec":
            items.append(_sql_str(_fmt(value)))
        elif kind == "ts":
            items.append(_sql_str(f"{value:%Y-%m-%d %H:%M:%S}"))
        elif kind == "map":
            pairs = ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in sorted(value.items()))
            items.append(f"MAP {{{pairs}}}")
        else:
            items.append(_sql_str(str(value)))
    sql_type = {"str": "VARCHAR", "dec": "DOUBLE", "ts": "TIMESTAMP", "map": "MAP(VARCHAR, VARCHAR)"}[kind]
    return f"CAST([{', '.join(items)}] AS {sql_type}[])"


def _bench_select(base: Sequence[Row], columns: Sequence[_Col], seed: int) -> str:
    """SELECT over range(i) that replicates the base month row i % len(base).

    Pure projection over range(): DuckDB keeps insertion order for it, so the files are
    byte-for-byte reproducible without a sort. Low-cardinality columns are dictionary
    encoded (distinct values + per-row codes) to keep the statement small."""
    count = len(base)
    position = f"((i % {count}) + 1)"
    exprs: list[str] = []
    for col in columns:
        name = col.cur2 or ""
        values = [_value(row, col.source) for row in base]
        if col.source == "identity_line_item_id":
            # Line item ids stay unique across copies.
            exprs.append(
                f"md5(({_sql_list(values, 'str')})[{position}] || ':{seed}:' || CAST(i AS VARCHAR)) AS {name}"
            )
            continue
        keys = [json.dumps(sorted(v.items())) if isinstance(v, dict) else repr(v) for v in values]
        distinct: dict[str, int] = {}
        uniques: list[Any] = []
        for key, value in zip(keys, values, strict=True):
            if key not in distinct:
                distinct[key] = len(uniques)
                uniques.append(value)
        if len(uniques) * 2 < count:
            codes = ", ".join(str(distinct[k] + 1) for k in keys)
            exprs.append(
                f"({_sql_list(uniques, col.kind)})[CAST([{codes}] AS INTEGER[])[{position}]] AS {name}"
            )
        else:
            exprs.append(f"({_sql_list(values, col.kind)})[{position}] AS {name}")
    return "SELECT " + ",\n  ".join(exprs)


def write_bench_cur2_month(root: Path, spec: PayerSpec, billing_period: str, rows: int) -> GeneratedMonth:
    """Write a large CUR 2.0 Parquet month (``rows`` rows) for benchmarks.

    The rows replicate a normal generated month (same schema, same row mix) inside DuckDB, so
    there is no Python loop per row; totals are exact: each base row's amounts times the
    number of times it is repeated."""
    if spec.fmt != "cur2" or spec.compression != "parquet":
        raise ValueError(f"PayerSpec {spec.name!r}: the bench generator writes CUR 2.0 Parquet only")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    period = _parse_period(billing_period)
    base = _build_rows(spec, billing_period, 0)
    execution_id = _run_id(spec, billing_period, 0, tag=f"bench|{rows}")
    columns = _cur2_columns(spec.discounts)
    bounds = _chunks(rows, spec.files_per_month)
    manifest_key, data_keys = _cur2_paths(spec, period, execution_id, len(bounds))
    select = _bench_select(base, columns, spec.seed)

    root = Path(root)
    con = duckdb.connect(config={"memory_limit": "1500MB", "preserve_insertion_order": True})
    try:
        for (lo, hi), key in zip(bounds, data_keys, strict=True):
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            con.execute(
                f"COPY ({select}\nFROM range({lo}, {hi}) AS t(i)) TO {_sql_str(str(tmp))} "
                "(FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)"
            )
            os.replace(tmp, path)
    finally:
        con.close()

    manifest = _cur2_manifest(spec, period, execution_id, data_keys, columns)
    _atomic_write(root / manifest_key, (json.dumps(manifest, indent=2) + "\n").encode())
    repeats, extra = divmod(rows, len(base))
    weights = [repeats + (1 if index < extra else 0) for index in range(len(base))]
    return GeneratedMonth(
        billing_period=billing_period,
        run_id=execution_id,
        manifest_key=manifest_key,
        data_keys=tuple(data_keys),
        currency=spec.currency,
        totals=_totals(base, spec.discounts, weights),
    )


def default_spec(fmt: Fmt = "cur2", **overrides: Any) -> PayerSpec:
    """A payer with three linked accounts (one id with a leading zero), for demos and tests."""
    values: dict[str, Any] = {
        "fmt": fmt,
        "bucket": "acme-billing",
        "prefix": "exports",
        "name": "acme-cur" if fmt == "cur" else "acme-cur2",
        "payer_account_id": "111122223333",
        "payer_name": "Acme Payer",
        "linked_accounts": (
            LinkedAccount("012345678901", "Acme Prod"),
            LinkedAccount("444455556666", "Acme Data"),
            LinkedAccount("777788889999", "Acme Sandbox"),
        ),
    }
    values.update(overrides)
    return PayerSpec(**values)
