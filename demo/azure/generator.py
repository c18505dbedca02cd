"""Deterministic generator of realistic Azure Cost Management exports (actual + amortized, EA and MCA).

It writes files exactly where and how Cost Management writes them into a container (``root`` stands
for the container), with the provider's quirks: a ``manifest.json`` per run under
``<path>/<YYYYMMDD-YYYYMMDD>/<runId>/`` (a re-export adds a new run folder; the earlier run's files
stay), older manifest-less month folders holding several full snapshots, EA PascalCase CSV with a
UTF-8 BOM and MM/DD/YYYY dates, MCA camelCase CSV / Parquet (doubles) with ISO dates, Tags JSON with
and without its outer braces, several billing currencies in one file, charges without a subscription,
and the actual/amortized split of commitments:

- reservation (EA): an upfront purchase (actual only), daily covered usage that costs 0 in actual and
  its amortized share in amortized, daily UnusedReservation rows (amortized only), a refund (actual only);
- savings plan (MCA): a monthly recurring purchase (actual only), covered usage, UnusedSavingsPlan rows;
- Marketplace and support charges that are not amortized (the same row in both datasets).

Every amount is an exact decimal with at most 10 decimal places and 15 significant digits, and the
expected totals are summed from them with ``Decimal``: an oracle independent of any SQL the project
writes. Same inputs, same bytes: no wall clock, seeded randomness, fixed gzip timestamps and mtimes.
"""

from __future__ import annotations

import calendar
import csv
import gzip
import io
import json
import os
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "BillingProfile",
    "DatasetRun",
    "GeneratedAzureMonth",
    "Subscription",
    "AzureSourceSpec",
    "ea_columns",
    "mca_columns",
    "write_source_month",
]

Agreement = Literal["ea", "mca"]
FileFormat = Literal["csv", "csv.gz", "parquet"]
Layout = Literal["manifest", "files"]

_NAMESPACE = uuid.UUID("0b6d6c9e-2f55-4a35-b1c4-8f6d1d2c7a41")
_TEN_DP = Decimal("1e-10")
_ZERO = Decimal(0)


@dataclass(frozen=True)
class BillingProfile:
    id: str
    name: str
    currency: str
    usd_rate: Decimal = Decimal(1)  # billing currency -> USD, for costInUsd


@dataclass(frozen=True)
class Subscription:
    id: str
    name: str
    profile: int = 0  # index into AzureSourceSpec.profiles


@dataclass(frozen=True)
class AzureSourceSpec:
    agreement: Agreement
    billing_account_id: str
    billing_account_name: str
    profiles: tuple[BillingProfile, ...]
    subscriptions: tuple[Subscription, ...]
    actual_path: str  # the export's folder inside the container (root folder path / export name)
    amortized_path: str
    actual_format: FileFormat = "csv.gz"
    amortized_format: FileFormat = "csv.gz"
    actual_parts: int = 1  # data files per run of the actual export
    rows_per_sub_day: int = 3
    commitment: Literal["reservation", "savings_plan"] = "reservation"
    seed: int = 0
    # The billing account id the export prints, when it is not written as the registry writes it: real MCA
    # exports may print only the first GUID of '<guid>:<guid>_<date>', in either case.
    printed_billing_account_id: str | None = None

    @property
    def exported_billing_account_id(self) -> str:
        return self.printed_billing_account_id or self.billing_account_id
    invoiced_months: tuple[str, ...] = ()  # months whose rows carry their invoice id (MCA invoiceId)

    @property
    def export_names(self) -> dict[str, str]:
        return {"actual": self.actual_path.rsplit("/", 1)[-1], "amortized": self.amortized_path.rsplit("/", 1)[-1]}


@dataclass(frozen=True)
class DatasetRun:
    """One generated export run and what it holds (the oracle)."""

    dataset: str
    run_id: str
    manifest_key: str | None
    data_keys: tuple[str, ...]
    rows: int
    totals: dict[tuple[str, str], tuple[int, Decimal]]  # (sub account, currency) -> (rows, cost)

    def total(self, currency: str) -> Decimal:
        return sum((cost for (_, c), (_, cost) in self.totals.items() if c == currency), _ZERO)


@dataclass(frozen=True)
class GeneratedAzureMonth:
    billing_period: str
    actual: DatasetRun
    amortized: DatasetRun
    # Oracle facts about the commitment rows, for tests of the FOCUS mapping.
    purchases: Decimal = _ZERO  # actual-only commitment purchases and refunds (EffectiveCost 0 in costs)
    covered_usage_effective: Decimal = _ZERO  # amortized cost of commitment-covered usage (BilledCost 0)
    unused_commitment: Decimal = _ZERO  # UnusedReservation / UnusedSavingsPlan (BilledCost 0)
    actual_only_rows: int = 0  # rows with no twin in the amortized export (commitment purchases, refunds)

    @property
    def run_token(self) -> str:
        return f"{self.actual.run_id}+{self.amortized.run_id}"

    @property
    def keys(self) -> set[tuple[str, str]]:
        return set(self.actual.totals) | set(self.amortized.totals)

    def billed(self, key: tuple[str, str]) -> Decimal:
        return self.actual.totals.get(key, (0, _ZERO))[1]

    def effective(self, key: tuple[str, str]) -> Decimal:
        return self.amortized.totals.get(key, (0, _ZERO))[1]

    @property
    def lines(self) -> int:
        """Rows `costs` must hold: every amortized row, plus the actual rows the amortized export lacks."""
        return self.amortized.rows + self.actual_only_rows

    @property
    def currencies(self) -> list[str]:
        return sorted({c for _, c in self.keys})


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Meter:
    category: str
    sub_category: str
    name: str
    region: str
    product: str
    unit: str
    payg_price: Decimal
    consumed_service: str
    resource_type: str
    service_family: str


_METERS = (
    _Meter("Virtual Machines", "Dv5 Series", "D4s v5", "EU West", "Virtual Machines Dv5 Series - D4s v5 - EU West",
           "1 Hour", Decimal("0.192"), "Microsoft.Compute", "virtualMachines", "Compute"),
    _Meter("Storage", "Premium SSD Managed Disks", "P10 LRS Disk", "EU West",
           "Premium SSD Managed Disks - P10 LRS - EU West", "1/Month", Decimal("0.6560439"), "Microsoft.Compute",
           "disks", "Storage"),
    _Meter("Storage", "Tiered Block Blob", "Hot LRS Data Stored", "EU West", "Blob Storage - Hot LRS - EU West",
           "1 GB/Month", Decimal("0.0196"), "Microsoft.Storage", "storageAccounts", "Storage"),
    _Meter("Bandwidth", "Rtn Preference: MGN", "Standard Data Transfer Out", "Zone 1",
           "Rtn Preference: MGN - Data Transfer Out - Zone 1", "1 GB", Decimal("0.087"), "Microsoft.Network",
           "publicIPAddresses", "Networking"),
    _Meter("SQL Database", "General Purpose - Compute Gen5", "vCore", "EU West",
           "SQL Database Single General Purpose - Compute Gen5 - EU West", "1 Hour", Decimal("0.5044"),
           "Microsoft.Sql", "servers", "Databases"),
    _Meter("Azure Monitor", "Log Analytics", "Analytics Logs Data Ingestion", "EU West",
           "Log Analytics - Analytics Logs - EU West", "1 GB", Decimal("2.76"), "Microsoft.OperationalInsights",
           "workspaces", "Management and Governance"),
)
_RI_METER = _Meter("Virtual Machines", "Esv5 Series", "E8s v5", "EU West",
                   "Virtual Machines Esv5 Series - E8s v5 - EU West", "1 Hour", Decimal("0.576"), "Microsoft.Compute",
                   "virtualMachines", "Compute")


@dataclass
class _Row:
    day: date
    subscription: Subscription | None
    profile: BillingProfile
    meter: _Meter | None
    quantity: Decimal
    unit_price: Decimal
    payg_price: Decimal
    effective_price: Decimal
    cost: Decimal
    charge_type: str = "Usage"
    frequency: str = "UsageBased"
    pricing_model: str = "OnDemand"
    resource: str | None = None
    resource_group: str | None = None
    tags: dict[str, str] | None = None
    product: str | None = None
    publisher_type: str = "Azure"
    publisher_name: str = "Microsoft"
    reservation_id: str | None = None
    reservation_name: str | None = None
    benefit_id: str | None = None
    benefit_name: str | None = None
    product_order_id: str | None = None
    product_order_name: str | None = None
    term: str | None = None
    additional_info: dict[str, Any] | None = None
    extra: dict[str, str] = field(default_factory=dict)


def _q(value: Decimal) -> Decimal:
    """At most 10 decimal places and 15 significant digits (so a double written from it prints back exactly)."""
    value = value.quantize(_TEN_DP, rounding=ROUND_HALF_UP)
    digits = len(value.as_tuple().digits)
    if digits > 15:
        value = value.quantize(Decimal(1).scaleb(-(10 - (digits - 15))), rounding=ROUND_HALF_UP)
    return value.normalize() if value != 0 else _ZERO


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(str(p) for p in parts)))


def _days(billing_period: str) -> list[date]:
    year, month = (int(p) for p in billing_period.split("-"))
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


def _commitment_ids(spec: AzureSourceSpec) -> dict[str, str]:
    order = _uuid(spec.billing_account_id, "order")
    item = _uuid(spec.billing_account_id, "commitment")
    if spec.commitment == "reservation":
        return {
            "order": order, "id": item, "name": "VM_RI_E8s_v5_EUWest",
            "benefit": f"/providers/Microsoft.Capacity/reservationOrders/{order}/reservations/{item}",
            "order_name": "Reserved VM Instance, Standard_E8s_v5, EU West, 1 Year",
            "pricing_model": "Reservation", "unused": "UnusedReservation",
        }
    return {
        "order": order, "id": item, "name": "Compute_SP_1yr",
        "benefit": f"/providers/Microsoft.BillingBenefits/savingsPlanOrders/{order}/savingsPlans/{item}",
        "order_name": "Compute Savings Plan, 1 Year", "pricing_model": "SavingsPlan", "unused": "UnusedSavingsPlan",
    }


def _generate_rows(spec: AzureSourceSpec, billing_period: str, revision: int) -> tuple[list[_Row], list[_Row]]:
    """(actual rows, amortized rows) of one month."""
    rng = random.Random(f"{spec.seed}|{billing_period}|{revision}")
    days = _days(billing_period)
    # A re-export (revision > 0) covers late usage: the last days get rows the first run lacked.
    if revision == 0 and len(days) > 25:
        days = days[: len(days) - 3]
    actual: list[_Row] = []
    amortized: list[_Row] = []
    discount = Decimal("0.88") if spec.agreement == "ea" else Decimal("0.95")
    ids = _commitment_ids(spec)

    for sub_index, sub in enumerate(spec.subscriptions):
        profile = spec.profiles[sub.profile]
        for day in days:
            for n in range(spec.rows_per_sub_day):
                meter = _METERS[(sub_index + n + day.day) % len(_METERS)]
                quantity = _q(Decimal(rng.randint(1, 2400)) / Decimal(100))
                unit_price = _q(meter.payg_price * discount)
                cost = _q(quantity * unit_price)
                resource_group = f"rg-{sub.name.lower().replace(' ', '-')}-{n % 2}"
                name = f"{meter.resource_type[:-1].lower()}-{sub_index}{n}"
                tags = None
                if n % 3 != 2:
                    tags = {"env": ("prod", "dev", "test")[sub_index % 3], "team": ("data", "web", "platform")[n % 3]}
                    if day.day % 7 == 0:
                        tags["cost center"] = f"CC-{100 + sub_index}"  # keys may contain spaces
                row = _Row(
                    day, sub, profile, meter, quantity, unit_price, meter.payg_price, unit_price, cost,
                    resource=f"/subscriptions/{sub.id}/resourceGroups/{resource_group}/providers/"
                    f"{meter.consumed_service}/{meter.resource_type}/{name}",
                    resource_group=resource_group, tags=tags,
                )
                actual.append(row)
                amortized.append(row)  # on-demand usage: the same row, the same cost in both datasets

    # The commitment lives in the first subscription; its covered usage there, every day.
    owner = spec.subscriptions[0]
    profile = spec.profiles[owner.profile]
    purchase_day = date.fromisoformat(f"{billing_period}-01")
    resource = f"/subscriptions/{owner.id}/resourceGroups/rg-batch/providers/Microsoft.Compute/virtualMachines/batch-01"
    commitment_fields = dict(
        reservation_id=ids["id"] if spec.commitment == "reservation" else None,
        reservation_name=ids["name"] if spec.commitment == "reservation" else None,
        benefit_id=ids["benefit"], benefit_name=ids["name"], product_order_id=ids["order"],
        product_order_name=ids["order_name"], term="12",
    )
    if spec.commitment == "reservation":
        upfront = Decimal("3650.00")  # 1 year paid upfront: 10.00 a day amortized
        daily = _q(upfront / Decimal(365))
        if billing_period.endswith("-08"):
            actual.append(_Row(purchase_day, owner, profile, None, Decimal(1), upfront, _ZERO, upfront, upfront,
                               charge_type="Purchase", frequency="OneTime", pricing_model="Reservation",
                               product=ids["order_name"], resource=None, **commitment_fields))
        if billing_period.endswith("-10"):
            # An exchange returned part of the reservation: a refund, invoiced (actual) only.
            refund = Decimal("-412.50")
            # A negative quantity at the (non-negative) price: Quantity x UnitPrice = the negative cost.
            actual.append(_Row(purchase_day + timedelta(days=14), owner, profile, None, Decimal(-1), -refund, _ZERO,
                               -refund, refund, charge_type="Refund", frequency="OneTime", pricing_model="Reservation",
                               product=ids["order_name"], **commitment_fields))
    else:
        hourly = Decimal("1.25")  # savings plan commitment per hour, billed monthly
        monthly = _q(hourly * 24 * len(_days(billing_period)))
        daily = _q(hourly * 24)
        actual.append(_Row(purchase_day, owner, profile, None, Decimal(1), monthly, _ZERO, monthly, monthly,
                           charge_type="Purchase", frequency="Recurring", pricing_model="SavingsPlan",
                           product=ids["order_name"], **commitment_fields))
    for day in days:
        utilization = Decimal(rng.randint(70, 100)) / Decimal(100)
        used = _q(daily * utilization)
        hours = Decimal(24)
        covered = dict(
            subscription=owner, profile=profile, meter=_RI_METER, quantity=hours, unit_price=_RI_METER.payg_price,
            payg_price=_RI_METER.payg_price, charge_type="Usage", frequency="UsageBased",
            pricing_model=ids["pricing_model"], resource=resource, resource_group="rg-batch",
            tags={"env": "prod", "workload": "batch"}, **commitment_fields,
        )
        # Covered usage: costs 0 in actual (the purchase is invoiced), its amortized share in amortized.
        actual.append(_Row(day=day, effective_price=_ZERO, cost=_ZERO, **covered))
        amortized.append(_Row(day=day, effective_price=_q(used / hours), cost=used, **covered))
        if used < daily:
            amortized.append(_Row(day, owner, profile, None, _q(hours * (1 - utilization)), _ZERO, _ZERO,
                                  _q((daily - used) / hours) if hours else _ZERO, _q(daily - used),
                                  charge_type=ids["unused"], frequency="UsageBased",
                                  pricing_model=ids["pricing_model"], product=ids["order_name"], **commitment_fields))

    if spec.agreement == "mca":
        # Not amortized, so the same row in both datasets: a Marketplace purchase and a support plan
        # charged to a billing profile (no subscription).
        marketplace_sub = spec.subscriptions[-1]
        mp_profile = spec.profiles[marketplace_sub.profile]
        price = Decimal("149.99")
        marketplace = _Row(purchase_day + timedelta(days=4), marketplace_sub, mp_profile, None, Decimal(1), price, price,
                           price, price, charge_type="Purchase", frequency="Recurring", pricing_model="OnDemand",
                           product="Contoso Firewall Appliance - Standard Plan", publisher_type="Marketplace",
                           publisher_name="Contoso Networks Ltd")
        support_profile = spec.profiles[0]
        support_price = Decimal("100.00")
        support = _Row(purchase_day, None, support_profile, None, Decimal(1), support_price, support_price,
                       support_price, support_price, charge_type="Purchase", frequency="Recurring",
                       pricing_model="OnDemand", product="Azure Support - Standard")
        for row in (marketplace, support):
            actual.append(row)
            amortized.append(row)
    rng.shuffle(actual)
    rng.shuffle(amortized)
    return actual, amortized


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------

_EA_HEADER = (
    "InvoiceSectionName,AccountName,AccountOwnerId,SubscriptionId,SubscriptionName,ResourceGroup,ResourceLocation,"
    "Date,ProductName,MeterCategory,MeterSubCategory,MeterId,MeterName,MeterRegion,UnitOfMeasure,Quantity,"
    "EffectivePrice,CostInBillingCurrency,CostCenter,ConsumedService,ResourceId,Tags,OfferId,AdditionalInfo,"
    "ServiceInfo1,ServiceInfo2,ResourceName,ReservationId,ReservationName,UnitPrice,ProductOrderId,"
    "ProductOrderName,Term,PublisherType,PublisherName,ChargeType,Frequency,PricingModel,AvailabilityZone,"
    "BillingAccountId,BillingAccountName,BillingCurrencyCode,BillingPeriodStartDate,BillingPeriodEndDate,"
    "BillingProfileId,BillingProfileName,InvoiceSectionId,IsAzureCreditEligible,PartNumber,PayGPrice,PlanName,"
    "ServiceFamily,CostAllocationRuleName,benefitId,benefitName"
)


def ea_columns() -> list[str]:
    """EA cost details (PascalCase, CostInBillingCurrency / BillingCurrencyCode)."""
    return _EA_HEADER.split(",")


_MCA_HEADER = (
    "invoiceId,previousInvoiceId,billingAccountId,billingAccountName,billingProfileId,billingProfileName,"
    "invoiceSectionId,invoiceSectionName,resellerName,resellerMpnId,costCenter,billingPeriodEndDate,"
    "billingPeriodStartDate,servicePeriodEndDate,servicePeriodStartDate,date,serviceFamily,productOrderId,"
    "productOrderName,consumedService,meterId,meterName,meterCategory,meterSubCategory,meterRegion,ProductId,"
    "ProductName,SubscriptionId,subscriptionName,publisherType,publisherId,publisherName,resourceGroupName,"
    "ResourceId,resourceLocation,location,effectivePrice,quantity,unitOfMeasure,chargeType,billingCurrency,"
    "pricingCurrency,costInBillingCurrency,costInPricingCurrency,costInUsd,paygCostInBillingCurrency,paygCostInUsd,"
    "exchangeRatePricingToBilling,exchangeRateDate,isAzureCreditEligible,serviceInfo1,serviceInfo2,additionalInfo,"
    "tags,PayGPrice,frequency,term,reservationId,reservationName,pricingModel,unitPrice,costAllocationRuleName,"
    "benefitId,benefitName,provider"
)


def mca_columns() -> list[str]:
    """MCA cost details (camelCase, costInBillingCurrency / billingCurrency, paygCostInBillingCurrency)."""
    return _MCA_HEADER.split(",")


_NUMERIC_MCA = {"effectivePrice", "quantity", "costInBillingCurrency", "costInPricingCurrency", "costInUsd",
                "paygCostInBillingCurrency", "paygCostInUsd", "exchangeRatePricingToBilling", "PayGPrice", "unitPrice"}


def _tags_text(tags: dict[str, str] | None, braces: bool) -> str:
    if not tags:
        return ""
    text = ",".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in tags.items())
    return "{" + text + "}" if braces else text  # EA writes Tags without the outer braces


def _meter_id(meter: _Meter | None) -> str:
    return _uuid("meter", meter.name, meter.region) if meter else ""


def _ea_values(row: _Row, spec: AzureSourceSpec, billing_period: str) -> dict[str, str]:
    days = _days(billing_period)
    meter = row.meter
    sub = row.subscription
    return {
        "InvoiceSectionName": "Engineering", "AccountName": "Cloud Team", "AccountOwnerId": "cloud@contoso.example",
        "SubscriptionId": sub.id if sub else "", "SubscriptionName": sub.name if sub else "",
        "ResourceGroup": row.resource_group or "", "ResourceLocation": "westeurope" if meter else "",
        "Date": f"{row.day.month}/{row.day.day}/{row.day.year}" if row.day.day % 2 else row.day.strftime("%m/%d/%Y"),
        "ProductName": row.product or (meter.product if meter else ""),
        "MeterCategory": meter.category if meter else "", "MeterSubCategory": meter.sub_category if meter else "",
        "MeterId": _meter_id(meter), "MeterName": meter.name if meter else "", "MeterRegion": meter.region if meter else "",
        "UnitOfMeasure": meter.unit if meter else "1", "Quantity": str(row.quantity),
        "EffectivePrice": str(row.effective_price), "CostInBillingCurrency": str(row.cost), "CostCenter": "",
        "ConsumedService": meter.consumed_service if meter else "", "ResourceId": row.resource or "",
        "Tags": _tags_text(row.tags, braces=False), "OfferId": "MS-AZR-0017P",
        "AdditionalInfo": json.dumps(row.additional_info) if row.additional_info else "",
        "ServiceInfo1": "", "ServiceInfo2": "", "ResourceName": (row.resource or "").rsplit("/", 1)[-1],
        "ReservationId": row.reservation_id or "", "ReservationName": row.reservation_name or "",
        "UnitPrice": str(row.unit_price), "ProductOrderId": row.product_order_id or "",
        "ProductOrderName": row.product_order_name or "", "Term": row.term or "", "PublisherType": row.publisher_type,
        "PublisherName": row.publisher_name, "ChargeType": row.charge_type, "Frequency": row.frequency,
        "PricingModel": row.pricing_model, "AvailabilityZone": "", "BillingAccountId": spec.exported_billing_account_id,
        "BillingAccountName": spec.billing_account_name, "BillingCurrencyCode": row.profile.currency,
        "BillingPeriodStartDate": days[0].strftime("%m/%d/%Y"), "BillingPeriodEndDate": days[-1].strftime("%m/%d/%Y"),
        "BillingProfileId": row.profile.id, "BillingProfileName": row.profile.name, "InvoiceSectionId": "",
        "IsAzureCreditEligible": "True", "PartNumber": f"AAD-{_meter_id(meter)[:5].upper()}" if meter else "",
        "PayGPrice": str(row.payg_price), "PlanName": "", "ServiceFamily": meter.service_family if meter else "Compute",
        "CostAllocationRuleName": "", "benefitId": row.benefit_id or "", "benefitName": row.benefit_name or "",
    }


def _mca_values(row: _Row, spec: AzureSourceSpec, billing_period: str) -> dict[str, Any]:
    days = _days(billing_period)
    meter = row.meter
    sub = row.subscription
    rate = row.profile.usd_rate
    return {
        "invoiceId": _invoice_id(spec, billing_period), "previousInvoiceId": "",
        "billingAccountId": spec.exported_billing_account_id,
        "billingAccountName": spec.billing_account_name, "billingProfileId": row.profile.id,
        "billingProfileName": row.profile.name, "invoiceSectionId": _uuid(row.profile.id, "section")[:4].upper(),
        "invoiceSectionName": f"{row.profile.name} - Default", "resellerName": "", "resellerMpnId": "",
        "costCenter": "", "billingPeriodEndDate": days[-1].isoformat(), "billingPeriodStartDate": days[0].isoformat(),
        "servicePeriodEndDate": days[-1].isoformat(), "servicePeriodStartDate": days[0].isoformat(),
        "date": row.day.isoformat(), "serviceFamily": meter.service_family if meter else "Compute",
        "productOrderId": row.product_order_id or "", "productOrderName": row.product_order_name or "",
        "consumedService": meter.consumed_service if meter else "", "meterId": _meter_id(meter),
        "meterName": meter.name if meter else "", "meterCategory": meter.category if meter else "",
        "meterSubCategory": meter.sub_category if meter else "", "meterRegion": meter.region if meter else "",
        "ProductId": f"DZH318Z0{_meter_id(meter)[:4].upper()}" if meter else "",
        "ProductName": row.product or (meter.product if meter else ""),
        # Azure writes some subscription ids in upper case: the connector must still see one subscription.
        "SubscriptionId": sub.id.upper() if sub and sub.id[0] in "0123" else (sub.id if sub else ""),
        "subscriptionName": sub.name if sub else "", "publisherType": row.publisher_type, "publisherId": "",
        "publisherName": row.publisher_name, "resourceGroupName": row.resource_group or "",
        "ResourceId": row.resource or "", "resourceLocation": "westeurope" if meter else "",
        # MCA prices in the pricing currency (USD); costs are in the billing currency.
        "location": "EU West" if meter else "", "effectivePrice": _q(row.effective_price * rate), "quantity": row.quantity,
        "unitOfMeasure": meter.unit if meter else "1", "chargeType": row.charge_type,
        "billingCurrency": row.profile.currency, "pricingCurrency": "USD", "costInBillingCurrency": row.cost,
        "costInPricingCurrency": _q(row.cost * rate), "costInUsd": _q(row.cost * rate),
        "paygCostInBillingCurrency": _q(row.payg_price * row.quantity),
        "paygCostInUsd": _q(row.payg_price * row.quantity * rate),
        "exchangeRatePricingToBilling": _q(1 / rate), "exchangeRateDate": days[0].isoformat(),
        "isAzureCreditEligible": "True", "serviceInfo1": "", "serviceInfo2": "",
        "additionalInfo": json.dumps(row.additional_info) if row.additional_info else "",
        "tags": _tags_text(row.tags, braces=True), "PayGPrice": _q(row.payg_price * rate), "frequency": row.frequency,
        "term": row.term or "", "reservationId": row.reservation_id or "", "reservationName": row.reservation_name or "",
        "pricingModel": row.pricing_model, "unitPrice": _q(row.unit_price * rate), "costAllocationRuleName": "",
        "benefitId": row.benefit_id or "", "benefitName": row.benefit_name or "", "provider": "Azure",
    }


def _invoice_id(spec: AzureSourceSpec, billing_period: str) -> str:
    """An invoiced month's rows carry the invoice's number; the open month's are empty."""
    if billing_period not in spec.invoiced_months:
        return ""
    return "G" + str(int(_uuid(spec.billing_account_id, "invoice", billing_period).replace("-", ""), 16) % 10**9).zfill(9)


def _csv_bytes(header: list[str], records: Iterable[dict[str, Any]], *, bom: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for record in records:
        writer.writerow(["" if record[c] is None else str(record[c]) for c in header])
    data = buffer.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def _parquet_bytes(header: list[str], records: list[dict[str, Any]]) -> bytes:
    # Cost Management's Parquet holds numbers as doubles and the rest as strings.
    columns = {}
    for name in header:
        values = [r[name] for r in records]
        if name in _NUMERIC_MCA:
            columns[name] = pa.array([float(v) if v not in (None, "") else None for v in values], pa.float64())
        else:
            columns[name] = pa.array(["" if v is None else str(v) for v in values], pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer, compression="snappy")
    return buffer.getvalue()


def _encode(header: list[str], records: list[dict[str, Any]], fmt: FileFormat, *, bom: bool) -> bytes:
    if fmt == "parquet":
        return _parquet_bytes(header, records)
    data = _csv_bytes(header, records, bom=bom)
    if fmt == "csv.gz":
        return gzip.compress(data, compresslevel=6, mtime=0)
    return data


def _sub_account(row: _Row) -> str:
    # The connector's rule: subscription (lowercase), else billing profile.
    return row.subscription.id.lower() if row.subscription else row.profile.id


def _write(path: Path, data: bytes, mtime: datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = mtime.timestamp()
    os.utime(path, (stamp, stamp))


def _month_folder(billing_period: str) -> str:
    days = _days(billing_period)
    return f"{days[0]:%Y%m%d}-{days[-1]:%Y%m%d}"


def _write_dataset(
    root: Path, spec: AzureSourceSpec, dataset: str, billing_period: str, rows: list[_Row], revision: int,
    layout: Layout,
) -> DatasetRun:
    path = spec.actual_path if dataset == "actual" else spec.amortized_path
    fmt = spec.actual_format if dataset == "actual" else spec.amortized_format
    parts = spec.actual_parts if dataset == "actual" else 1
    header = ea_columns() if spec.agreement == "ea" else mca_columns()
    values = _ea_values if spec.agreement == "ea" else _mca_values
    records = [values(row, spec, billing_period) for row in rows]
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for row in rows:
        key = (_sub_account(row), row.profile.currency)
        count, cost = totals.get(key, (0, _ZERO))
        totals[key] = (count + 1, cost + row.cost)
    export_name = spec.export_names[dataset]
    month_folder = f"{path}/{_month_folder(billing_period)}"
    year, month = (int(p) for p in billing_period.split("-"))
    submitted = datetime(year, month, 1, 6, 0, tzinfo=UTC) + timedelta(days=20 + 12 * revision)
    run_id = _uuid(spec.billing_account_id, dataset, billing_period, revision)
    suffix = {"csv": "csv", "csv.gz": "csv.gz", "parquet": "parquet"}[fmt]
    bom = spec.agreement == "ea"  # EA downloads and exports carry a UTF-8 BOM

    if layout == "files":
        # Older exports: each run is one file <exportname>_<guid>.csv straight in the month folder, a full
        # snapshot. An earlier, smaller snapshot stays beside it (it must not be read).
        stale_rows = records[: len(records) // 2]
        stale_key = f"{month_folder}/{export_name}_{_uuid(run_id, 'stale')}.{suffix}"
        key = f"{month_folder}/{export_name}_{run_id}.{suffix}"
        _write(root / stale_key, _encode(header, stale_rows, fmt, bom=bom), submitted - timedelta(days=3))
        _write(root / key, _encode(header, records, fmt, bom=bom), submitted)
        return DatasetRun(dataset, f"file:{key}", None, (key,), len(records), totals)

    run_folder = f"{month_folder}/{run_id}"
    size = max(1, -(-len(records) // parts))
    blobs = []
    keys = []
    for index in range(parts):
        chunk = records[index * size : (index + 1) * size]
        key = f"{run_folder}/part_0_{index + 1:04d}.{suffix}"
        data = _encode(header, chunk, fmt, bom=bom)
        _write(root / key, data, submitted)
        blobs.append({"blobName": key, "byteCount": len(data), "dataRowCount": len(chunk)})
        keys.append(key)
    days = _days(billing_period)
    manifest = {
        "manifestVersion": "2024-04-01",
        "byteCount": sum(b["byteCount"] for b in blobs),
        "blobCount": len(blobs),
        "dataRowCount": len(records),
        "exportConfig": {
            "exportName": export_name,
            "resourceId": f"/providers/Microsoft.Billing/billingAccounts/{spec.billing_account_id}/providers/"
            f"Microsoft.CostManagement/exports/{export_name}",
            "dataVersion": "2023-12-01-preview" if spec.agreement == "ea" else "2021-10-01",
            "apiVersion": "2023-07-01-preview",
            "type": "ActualCost" if dataset == "actual" else "AmortizedCost",
            "timeFrame": "MonthToDate" if revision == 0 else "TheLastMonth",
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "CreateNewReport",
            "fileFormat": "Parquet" if fmt == "parquet" else "Csv",
            "compressionMode": {"csv": "None", "csv.gz": "Gzip", "parquet": "Snappy"}[fmt],
            "containerUri": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/billing/providers/"
            "Microsoft.Storage/storageAccounts/billingexports",
            "rootFolderPath": path.rsplit("/", 1)[0] if "/" in path else "",
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": submitted.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "runId": run_id,
            "startDate": f"{days[0].isoformat()}T00:00:00",
            "endDate": f"{days[-1].isoformat()}T00:00:00",
        },
        "blobs": blobs,
    }
    manifest_key = f"{run_folder}/manifest.json"
    _write(root / manifest_key, json.dumps(manifest, indent=2).encode("utf-8"), submitted + timedelta(minutes=5))
    return DatasetRun(dataset, run_id, manifest_key, tuple(keys), len(records), totals)


def write_source_month(
    root: Path, spec: AzureSourceSpec, billing_period: str, *, revision: int = 0, layout: Layout = "manifest"
) -> GeneratedAzureMonth:
    """Write both exports (actual, amortized) of one month under ``root`` (the container); return the oracle."""
    actual_rows, amortized_rows = _generate_rows(spec, billing_period, revision)
    actual = _write_dataset(root, spec, "actual", billing_period, actual_rows, revision, layout)
    amortized = _write_dataset(root, spec, "amortized", billing_period, amortized_rows, revision, layout)
    if layout == "files":
        # The connector names a manifest-less run by its files; reproduce that token for the oracle.
        actual = _files_run_id(root, actual)
        amortized = _files_run_id(root, amortized)
    purchases = sum((r.cost for r in actual_rows if r.charge_type in ("Purchase", "Refund") and r.benefit_id), _ZERO)
    covered = sum((r.cost for r in amortized_rows if r.charge_type == "Usage" and r.benefit_id), _ZERO)
    unused = sum((r.cost for r in amortized_rows if r.charge_type.startswith("Unused")), _ZERO)
    # Rows with no twin: commitment purchases and refunds (actual only), and purchases Azure does not
    # amortize, whose actual and amortized rows are two lines (the purchase and its consumption).
    actual_only = sum(1 for r in actual_rows if r.charge_type in ("Purchase", "Refund"))
    return GeneratedAzureMonth(billing_period, actual, amortized, purchases, covered, unused, actual_only)


def _files_run_id(root: Path, run: DatasetRun) -> DatasetRun:
    import hashlib

    digest = hashlib.sha256()
    for key in run.data_keys:
        stat = (root / key).stat()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        digest.update(f"{key}|{stat.st_size}|{modified.isoformat()}\n".encode())
    return DatasetRun(run.dataset, f"files-{digest.hexdigest()[:20]}", None, run.data_keys, run.rows, run.totals)
