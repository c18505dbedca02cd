"""Deterministic OCI cost and usage reports (the demo and the tests), with their own Decimal oracle.

A tenancy gets one cost report and one usage report object per ``hours_per_file`` window, named by an
incrementing number like Oracle's (``reports/cost-csv/0001000000000012.csv.gz``) and never rewritten.
What real reports do and readers get wrong is in here on purpose:
- late lines: each object also carries a few lines of the previous window, so the first object after
  midnight of the 1st holds rows of two billing months;
- tag columns drift (``tags/<namespace>.<key>``, free-form keys with spaces, slashes, a backslash);
- a correction: a later object repeats a line with ``lineItem/isCorrection`` true and
  ``lineItem/backreferenceNo`` = the corrected line's referenceNo (the correction replaces it);
- tiny costs written in scientific notation (``2.3E-9``) and zero-cost lines with an empty
  ``cost/currencyCode``, as in real files;
- a non-USD currency (e.g. JPY for an ap-tokyo-1 tenancy).

The oracle (``expected``) sums the written Decimal strings in Python, replacing corrected lines —
independently of the connector's SQL.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

COST_HEADER = [
    "lineItem/referenceNo", "lineItem/tenantId", "lineItem/intervalUsageStart", "lineItem/intervalUsageEnd",
    "product/service", "product/compartmentId", "product/compartmentName", "product/region",
    "product/availabilityDomain", "product/resourceId", "usage/billedQuantity", "usage/billedQuantityOverage",
    "cost/subscriptionId", "cost/productSku", "product/Description", "cost/unitPrice", "cost/unitPriceOverage",
    "cost/myCost", "cost/myCostOverage", "cost/currencyCode", "cost/billingUnitReadable",
    "cost/skuUnitDescription", "cost/overageFlag", "lineItem/isCorrection", "lineItem/backreferenceNo",
]
USAGE_HEADER = [
    "lineItem/referenceNo", "lineItem/tenantId", "lineItem/intervalUsageStart", "lineItem/intervalUsageEnd",
    "product/service", "product/resource", "product/compartmentId", "product/compartmentName", "product/region",
    "product/availabilityDomain", "product/resourceId", "usage/consumedQuantity", "usage/billedQuantity",
    "usage/consumedQuantityUnits", "usage/consumedQuantityMeasure", "lineItem/isCorrection",
    "lineItem/backreferenceNo",
]
# Tag columns and the files they appear in (index % modulus == remainder): they come and go.
DRIFTING_TAGS: tuple[tuple[str, int, int], ...] = (
    ("Oracle-Tags.CreatedBy", 1, 0),
    ("Finance.CostCenter", 2, 0),
    ("free form key", 3, 1),
    ("team/app", 2, 1),
    ("DevRel\\demo-release.version", 4, 2),
)


@dataclass(frozen=True)
class Resource:
    service: str
    resource: str  # usage report product/resource (metering name)
    sku: str
    description: str
    unit_price: Decimal
    billing_unit: str
    sku_unit: str
    consumed_units: str
    consumed_measure: str
    hourly_quantity: Decimal
    ocid_kind: str


RESOURCES: tuple[Resource, ...] = (
    Resource("COMPUTE", "PIC_COMPUTE_STANDARD_E4", "B93113", "Compute - Standard - E4 - OCPU", Decimal("0.025"),
             "1 NONE HOURS OCPU", "OCPU Per Hour", "MS", "OCPU", Decimal("2"), "instance"),
    Resource("BLOCK_STORAGE", "PIC_BLOCK_STORAGE_STANDARD", "B91961", "Block Volume - Storage", Decimal("0.0255"),
             "ONE GiB MONTHS STORAGE_SIZE", "GB Months", "GB_MS", "STORAGE_SIZE", Decimal("0.0684931507"), "volume"),
    Resource("OBJECTSTORE", "PIC_OBJECT_STORAGE_STANDARD", "B91628", "Object Storage - Storage", Decimal("0.0255"),
             "ONE GiB MONTHS STORAGE_SIZE", "GB Months", "GB_MS", "STORAGE_SIZE", Decimal("0.0013698630"), "bucket"),
    Resource("TELEMETRY", "PIC_MONITORING_RETRIEVAL", "B90926", "Monitoring Service - Retrieval", Decimal("0.0015"),
             "1000000 NONE NONE DATAPOINTS", "Million Datapoints", "COUNT", "DATAPOINTS", Decimal("0.0000015"), "alarm"),
    Resource("DATABASE", "PIC_ADB_OCPU", "B95702", "Oracle Autonomous Data Warehouse - ECPU", Decimal("0.336"),
             "1 NONE HOURS ECPU", "ECPU Per Hour", "MS", "ECPU", Decimal("2"), "autonomousdatabase"),
)


@dataclass(frozen=True)
class TenancySpec:
    tenancy_ocid: str
    name: str
    currency: str
    region: str
    compartments: tuple[tuple[str, str], ...]  # (compartment OCID, name); the first is the tenancy (root)
    start: datetime
    end: datetime  # exclusive; windows of hours_per_file from start
    # More (start, end) ranges reported besides [start, end): a tenancy whose reports have gaps.
    extra_ranges: tuple[tuple[datetime, datetime], ...] = ()
    hours_per_file: int = 6
    price_factor: Decimal = Decimal("1")  # e.g. JPY ~ 150 x USD
    correction_window: int | None = 3  # index of the object that carries the correction (None: no correction)
    seed: int = 7
    first_number: int = 1000000000000  # object numbers increase from here
    usage: bool = True


@dataclass
class CostLine:
    reference_no: str
    month: str
    compartment_id: str
    currency: str  # as the oracle counts it (the row's own, or the report's when empty)
    cost: Decimal
    object_key: str
    is_correction: bool = False
    backreference_no: str | None = None


@dataclass(frozen=True)
class GeneratedObject:
    key: str
    data: bytes
    created: datetime
    dataset: str  # cost | usage


@dataclass
class GeneratedTenancy:
    spec: TenancySpec
    objects: list[GeneratedObject] = field(default_factory=list)
    cost_lines: list[CostLine] = field(default_factory=list)
    usage_rows: dict[str, dict[tuple[str, str], tuple[int, Decimal]]] = field(default_factory=dict)  # month -> (compartment, units) -> rows, qty

    def keys(self, dataset: str | None = None) -> list[str]:
        return [o.key for o in self.objects if dataset is None or o.dataset == dataset]

    def expected(self, loaded: set[str] | None = None) -> dict[str, dict[tuple[str, str], tuple[int, int, Decimal]]]:
        """month -> (compartment, currency) -> (counted rows, replaced rows, cost), over the cost lines of
        the ``loaded`` objects (default all): a corrected line is replaced by its newest correction."""
        lines = [c for c in self.cost_lines if loaded is None or c.object_key in loaded]
        targets: dict[str, CostLine] = {}
        for line in lines:
            if line.is_correction and line.backreference_no:
                current = targets.get(line.backreference_no)
                if current is None or (line.object_key, line.reference_no) > (current.object_key, current.reference_no):
                    targets[line.backreference_no] = line
        winners = {id(line) for line in targets.values()}
        result: dict[str, dict[tuple[str, str], list]] = defaultdict(lambda: defaultdict(lambda: [0, 0, Decimal(0)]))
        for line in lines:
            replaced = line.reference_no in targets or (line.is_correction and id(line) not in winners)
            slot = result[line.month][(line.compartment_id, line.currency)]
            if replaced:
                slot[1] += 1
            else:
                slot[0] += 1
                slot[2] += line.cost
        return {m: {k: (v[0], v[1], v[2]) for k, v in groups.items()} for m, groups in result.items()}

    def billed(self, loaded: set[str] | None = None) -> dict[str, Decimal]:
        """month -> billed total (one currency per tenancy)."""
        return {m: sum((v[2] for v in groups.values()), Decimal(0)) for m, groups in self.expected(loaded).items()}


def _ts(moment: datetime, seconds: bool) -> str:
    # Real reports mix '2023-11-13T10:00Z' and '2023-11-13T11:00:00Z'.
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ" if seconds else "%Y-%m-%dT%H:%MZ")


def _money(value: Decimal) -> str:
    """Exact text of a cost (the oracle sums these very strings)."""
    if value != 0 and abs(value) < Decimal("0.000001"):
        return format(value.normalize(), "E")  # '2.32376E-9': real reports write tiny costs like this
    return f"{value:.18f}"


def _gzip_csv(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    # mtime=0: the same bytes every run (the demo is deterministic).
    return gzip.compress(text.getvalue().encode("utf-8"), mtime=0)


def generate_tenancy(spec: TenancySpec) -> GeneratedTenancy:
    rng = random.Random(spec.seed)
    out = GeneratedTenancy(spec)
    windows: list[datetime] = []
    for range_start, range_end in sorted([(spec.start, spec.end), *spec.extra_ranges]):
        moment = range_start
        while moment < range_end:
            windows.append(moment)
            moment += timedelta(hours=spec.hours_per_file)
    resources = [
        (resource, spec.compartments[i % len(spec.compartments)], f"ocid1.{resource.ocid_kind}.oc1.{spec.region}.{spec.seed:02d}{i:04d}x")
        for i, resource in enumerate(RESOURCES)
    ]
    number = spec.first_number
    reference = 0
    pending_late: list[tuple[datetime, int]] = []  # (hour, resource index) delivered in the NEXT object
    remembered: CostLine | None = None
    remembered_row: list[str] | None = None
    for index, window in enumerate(windows):
        tags = [name for name, modulus, remainder in DRIFTING_TAGS if index % modulus == remainder]
        hours = [window + timedelta(hours=h) for h in range(spec.hours_per_file)]
        # The last hour of each window arrives late, in the next object (so objects straddle months).
        due = [(hour, r) for hour in hours[:-1] for r in range(len(resources))] + pending_late
        pending_late = [(hours[-1], r) for r in range(len(resources))]
        if index == len(windows) - 1 or windows[index + 1] != window + timedelta(hours=spec.hours_per_file):
            # The last object before a gap (or the end) carries its window's last hour itself.
            due += pending_late
            pending_late = []
        cost_key = f"reports/cost-csv/{number:016d}.csv.gz"
        usage_key = f"reports/usage-csv/{number:016d}.csv.gz"
        cost_rows: list[list[str]] = []
        usage_rows: list[list[str]] = []
        for hour, r in sorted(due):
            resource, (compartment_id, compartment_name), resource_id = resources[r]
            reference += 1
            jitter = Decimal(rng.randint(80, 120)) / Decimal(100)
            quantity = (resource.hourly_quantity * jitter).quantize(Decimal("0.000000000001"))
            unit_price = resource.unit_price * spec.price_factor
            cost = (quantity * unit_price).quantize(Decimal("0.000000000000000001"))
            currency = spec.currency
            month = hour.strftime("%Y-%m")
            reference_no = f"{spec.seed:02d}{reference:010d}"
            # Every 17th line of a free-tier resource costs nothing and, as in real files, names no currency.
            written_currency = "" if reference % 17 == 0 else currency
            if written_currency == "":
                cost = Decimal(0)
            cost = Decimal(_money(cost))
            row = [
                reference_no, spec.tenancy_ocid, _ts(hour, reference % 2 == 0), _ts(hour + timedelta(hours=1), True),
                resource.service, compartment_id, compartment_name, spec.region,
                f"Uocm:{spec.region.upper()}-AD-1" if resource.service == "COMPUTE" else "", resource_id,
                f"{quantity:.12f}", "", "ocid1.organizationssubscription.oc1..demo", resource.sku, resource.description,
                f"{unit_price:.12f}", "", _money(cost), "", written_currency, resource.billing_unit, resource.sku_unit,
                "false", "false", str(reference % 997),  # backreferenceNo is filled on ordinary lines too
            ]
            cost_rows.append(row + [_tag_value(name, r, hour) for name in tags])
            out.cost_lines.append(CostLine(reference_no, month, compartment_id, currency, cost, cost_key))
            if remembered is None and resource.service == "COMPUTE" and index == 0:
                remembered, remembered_row = out.cost_lines[-1], row
            if spec.usage:
                consumed = (quantity * Decimal(3600000)).quantize(Decimal("0.001")) if resource.consumed_units == "MS" else quantity
                usage_rows.append(
                    [
                        f"u{reference_no}", spec.tenancy_ocid, _ts(hour, False), _ts(hour + timedelta(hours=1), False),
                        resource.service, resource.resource, compartment_id, compartment_name, spec.region,
                        row[8], resource_id, f"{consumed}", f"{quantity:.12f}", resource.consumed_units,
                        resource.consumed_measure, "false", "",
                    ]
                    + [_tag_value(name, r, hour) for name in tags]
                )
                slot = out.usage_rows.setdefault(month, {})
                old = slot.get((compartment_id, resource.consumed_units), (0, Decimal(0)))
                slot[(compartment_id, resource.consumed_units)] = (old[0] + 1, old[1] + consumed)
        if spec.correction_window is not None and index == spec.correction_window and remembered and remembered_row:
            # Oracle re-rates an earlier line: the correction carries the complete corrected line.
            reference += 1
            corrected_cost = Decimal(_money((remembered.cost * Decimal("0.5")).quantize(Decimal("0.000000000000000001"))))
            correction = list(remembered_row)
            correction[0] = f"{spec.seed:02d}{reference:010d}"
            correction[17] = _money(corrected_cost)
            correction[23] = "true"
            correction[24] = remembered.reference_no
            cost_rows.append(correction + [""] * len(tags))
            out.cost_lines.append(
                CostLine(correction[0], remembered.month, remembered.compartment_id, spec.currency, corrected_cost,
                         cost_key, is_correction=True, backreference_no=remembered.reference_no)
            )
        created = window + timedelta(hours=spec.hours_per_file, minutes=40)
        out.objects.append(GeneratedObject(cost_key, _gzip_csv(COST_HEADER + [f"tags/{t}" for t in tags], cost_rows), created, "cost"))
        if spec.usage:
            out.objects.append(
                GeneratedObject(usage_key, _gzip_csv(USAGE_HEADER + [f"tags/{t}" for t in tags], usage_rows), created, "usage")
            )
        number += 1
    return out


def _tag_value(name: str, resource_index: int, hour: datetime) -> str:
    if name == "Oracle-Tags.CreatedBy":
        return f"default/user{resource_index}@example.com"
    if name == "Finance.CostCenter":
        return "" if resource_index == 3 else f"CC-{100 + resource_index}"
    if name == "free form key":
        return "yes"
    if name == "team/app":  # a team as OCI users often tag it, in mixed case (tag_rules fold it)
        return ("Data", "Web")[resource_index % 2]
    return f"v{hour.day}"


def write_objects(root: Path, objects: list[GeneratedObject]) -> list[str]:
    """Write objects into a folder laid out like the bucket; mtime = the object's creation time."""
    for obj in objects:
        path = root / obj.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(obj.data)
        stamp = obj.created.timestamp()
        os.utime(path, (stamp, stamp))
    return [o.key for o in objects]


def write_tenancy(root: Path, spec: TenancySpec) -> GeneratedTenancy:
    generated = generate_tenancy(spec)
    write_objects(root, generated.objects)
    return generated


def default_spec(**changes: object) -> TenancySpec:
    base = TenancySpec(
        tenancy_ocid="ocid1.tenancy.oc1..aaaaaaaademotenancyusd0000000000000000000000000000000000",
        name="Demo tenancy",
        currency="USD",
        region="us-ashburn-1",
        compartments=(
            ("ocid1.tenancy.oc1..aaaaaaaademotenancyusd0000000000000000000000000000000000", "demo (root)"),
            ("ocid1.compartment.oc1..aaaaaaaaprodcompartment000000000000000000000000000000", "prod"),
            ("ocid1.compartment.oc1..aaaaaaaadevcompartment0000000000000000000000000000000", "dev"),
        ),
        start=datetime(2026, 9, 29, 0, tzinfo=UTC),
        end=datetime(2026, 10, 2, 0, tzinfo=UTC),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# -- the demo: one tenancy billing in JPY, reports around the 1st of 2026-09 and 2026-10 ------------------
# (One tenancy keeps the shared demo fast: each (tenancy, month) is one Dagster run. AWS is the USD side.)

DEMO_TENANCIES: dict[str, TenancySpec] = {
    "oci-tokyo": default_spec(
        tenancy_ocid="ocid1.tenancy.oc1..aaaaaaaatokyotenancy2b4d6f8h0j2l4n6p8r0t2v4x6z8b0d2f4h6",
        name="Tokyo tenancy",
        currency="JPY",
        region="ap-tokyo-1",
        price_factor=Decimal("150"),
        compartments=(
            ("ocid1.tenancy.oc1..aaaaaaaatokyotenancy2b4d6f8h0j2l4n6p8r0t2v4x6z8b0d2f4h6", "tokyo (root)"),
            ("ocid1.compartment.oc1..aaaaaaaaretail5c7e9g1i3k5m7o9q1s3u5w7y9a1c3e5g7i9k1", "retail"),
            ("ocid1.compartment.oc1..aaaaaaaadata7lake3p5r7t9v1x3z5b7d9f1h3j5l7n9p1r3t5v7", "data-lake"),
        ),
        start=datetime(2026, 9, 29, 12, tzinfo=UTC),
        end=datetime(2026, 10, 2, 12, tzinfo=UTC),
        # The demo's months are 2026-08..2026-10: a day of reports around 1 September too.
        extra_ranges=((datetime(2026, 8, 31, 12, tzinfo=UTC), datetime(2026, 9, 1, 12, tzinfo=UTC)),),
        seed=43,
        first_number=1000000900000,
        correction_window=6,  # an object of 30 September corrects a line of 31 August
    ),
}


def generate_oci_demo(root: Path) -> dict[str, GeneratedTenancy]:
    """Write every demo tenancy's reports under <root>/<key>/ (a folder laid out like its bucket)."""
    return {key: write_tenancy(root / key, spec) for key, spec in DEMO_TENANCIES.items()}


def oci_expected_billed(generated: dict[str, GeneratedTenancy]) -> dict[str, dict[str, str]]:
    """Oracle: billed total (cost/myCost after corrections) per tenancy and month."""
    return {key: {month: str(total) for month, total in sorted(g.billed().items())} for key, g in generated.items()}
