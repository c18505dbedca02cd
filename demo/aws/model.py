"""Deterministic generator of realistic AWS billing exports (legacy CUR and CUR 2.0).

It writes files exactly where and how AWS writes them into a bucket (``root`` stands for the
bucket root), so the project's readers, its demo and its benchmark run on data with the
provider's quirks: manifests that must be followed (stale files of earlier runs stay beside
the new ones), rewrites of a month, split cost allocation rows that repeat EC2 cost,
commitment rows whose amortized cost is not their unblended cost, ragged CSV rows,
account ids with leading zeros, MAP columns in CUR 2.0, line item ids repeated across the files
of one delivery.

Every amount is generated as an exact decimal string (at most 10 decimal places, at most
15 significant digits, so a DOUBLE written from it prints back as the same decimal) and the
expected totals are summed from those strings with ``Decimal``: they are an oracle that
does not depend on any SQL the project writes.

Same inputs, same bytes: no wall clock, no unseeded randomness, fixed gzip/zip timestamps.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

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
    # AWS documents identity/LineItemId as unique within one file (partition) only: with this set, rows are
    # dealt to the files in turn and each later file reuses line ids of the first file's rows of the same
    # time interval, as a real multi-file delivery may.
    repeat_line_ids: bool = False
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
        if self.repeat_line_ids and self.files_per_month < 2:
            raise ValueError(f"PayerSpec {self.name!r}: repeat_line_ids needs files_per_month >= 2")
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
