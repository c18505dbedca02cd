"""Every CSV reader (AWS legacy CUR, Azure EA and MCA, OCI) on one corpus of CSV shapes, good and bad.

The corpus is written here from each cloud's own demo generator rows (never copied from the samples): 1-3
rows; quoted fields holding commas, doubled quotes, JSON and line breaks; LF, CRLF and both mixed; a UTF-8
byte order mark; a trailing delimiter; an empty last line; no final line break. Each valid shape must load
its rows with exact Decimal totals and keep every hard value byte for byte in bronze. Each broken file (a row
with more fields than the header, a byte that is not UTF-8, an unterminated quote) must be refused naming
the file, line and column, and leave the last good data in place.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.aws.source import AwsPayerSource
from connectors.aws.source import bronze_path as aws_bronze_path
from connectors.azure.source import AzureBillingSource
from connectors.azure.source import bronze_path as azure_bronze_path
from connectors.errors import ExportFormatError
from connectors.oci.columns import COST
from connectors.oci.source import OciTenancySource
from connectors.oci.source import bronze_path as oci_bronze_path
from connectors.records import LoadRecord, record_path_for
from demo.aws import default_spec as aws_spec
from demo.aws import write_payer_month
from demo.azure.generator import (
    AzureSourceSpec,
    BillingProfile,
    Subscription,
    mca_columns,
    write_source_month,
)
from demo.oci.generator import default_spec as oci_spec
from demo.oci.generator import generate_tenancy
from registry.azure import AzureAccount
from registry.model import AwsAccount
from registry.oci import OciAccount

COMMAS_QUOTES = 'D2s v3, "Spot", 2 vCPU'
NEWLINES = "first line\nsecond line\r\nthird line"
JSON = json.dumps({"team": "data, ml", "note": 'say "hi"'})


# --- the corpus ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    rows: int = 2
    newline: str = "\n"
    header_newline: str | None = None  # the header line ends differently from the rows
    bom: bool = False
    trailing_delimiter: bool = False
    empty_last_line: bool = False
    final_newline: bool = True
    hard: tuple[str, ...] = ()  # which hard values go into the rows: commas_quotes, newlines, json


SHAPES = (
    Shape("one row, LF", rows=1),
    Shape("two rows, CRLF", newline="\r\n"),
    Shape("three rows, CRLF, BOM", rows=3, newline="\r\n", bom=True),
    Shape("quoted commas and doubled quotes", hard=("commas_quotes",)),
    Shape("JSON in quoted fields", rows=3, newline="\r\n", hard=("json",)),
    Shape("line breaks inside quoted fields, CRLF", newline="\r\n", hard=("newlines",)),
    Shape("line breaks inside quoted fields, LF", rows=1, hard=("newlines",)),
    Shape("trailing delimiter", rows=3, newline="\r\n", trailing_delimiter=True),
    Shape("empty last line", empty_last_line=True),
    Shape("no final line break", rows=3, final_newline=False),
    Shape("header CRLF, rows LF", header_newline="\r\n", hard=("json",)),
    Shape("everything at once", rows=3, newline="\r\n", header_newline="\n", bom=True, trailing_delimiter=True,
          empty_last_line=True, hard=("commas_quotes", "newlines", "json")),
)
HARD_VALUES = {"commas_quotes": COMMAS_QUOTES, "newlines": NEWLINES, "json": JSON}


def csv_line(cells: list[str], trailing_delimiter: bool) -> str:
    buffer = io.StringIO()
    # RFC 4180 quoting: a field holding a delimiter, quote, CR or LF is quoted, its quotes doubled. (The writer
    # quotes CR/LF only when they are in its line terminator.)
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().removesuffix("\r\n") + ("," if trailing_delimiter else "")


def write_shape(header: list[str], rows: list[list[str]], shape: Shape) -> bytes:
    lines = [csv_line(header, shape.trailing_delimiter)] + [csv_line(r, shape.trailing_delimiter) for r in rows]
    ends = [shape.header_newline or shape.newline] + [shape.newline] * len(rows)
    if not shape.final_newline:
        ends[-1] = ""
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if shape.empty_last_line:
        text += shape.newline
    return (b"\xef\xbb\xbf" if shape.bom else b"") + text.encode("utf-8")


# --- one adapter per reader: deliver a file as the month's export, load it, read the result ----------------


@dataclass
class Case:
    name: str
    tmp: Path
    header: list[str]
    base_rows: list[list[str]]
    cost: str  # header of the cost column the record totals
    currency: str
    hard_columns: dict[str, tuple[str, str]]  # hard value kind -> (header, bronze column)
    deliver: Callable[[bytes, int], str]  # (file bytes, data rows) -> the file as messages name it
    ingest: Callable[[], LoadRecord]
    bronze: Callable[[], Path]
    amount: str
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self, shape: Shape) -> list[list[str]]:
        rows = [list(r) for r in self.base_rows[: shape.rows]]
        for kind in shape.hard:
            index = self.header.index(self.hard_columns[kind][0])
            for row in rows:
                row[index] = HARD_VALUES[kind]
        return rows

    def expected(self, rows: list[list[str]]) -> dict[str, Decimal]:
        cost, currency = self.header.index(self.cost), self.header.index(self.currency)
        totals: dict[str, Decimal] = {}
        for row in rows:
            totals[row[currency]] = totals.get(row[currency], Decimal(0)) + Decimal(row[cost])
        return totals

    def snapshot(self) -> tuple[bytes, bytes]:
        return self.bronze().read_bytes(), record_path_for(self.bronze()).read_bytes()


def parse(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    return rows[0], rows[1:]


def aws_case(tmp: Path) -> Case:
    spec = aws_spec("cur")
    root = tmp / "bucket"
    month = write_payer_month(root, spec, "2026-09")
    data_file, manifest = root / month.data_keys[0], root / month.manifest_key
    header, rows = parse(gzip.decompress(data_file.read_bytes()))
    operation = header.index("lineItem/Operation")
    rows = [r for r in rows if r[operation] not in ("EKSPod-EC2", "ECSTask-EC2")][:3]  # split rows count apart
    payer = AwsAccount.model_validate({
        "provider": "aws", "key": "acme-payer", "account_id": spec.payer_account_id, "role": "payer",
        "export": {"format": "cur", "bucket": str(root), "prefix": spec.prefix, "name": spec.name},
    })
    source = AwsPayerSource(payer)

    def deliver(data: bytes, _rows: int) -> str:
        data_file.write_bytes(gzip.compress(data))
        content = json.loads(manifest.read_text())
        content["assemblyId"] = str(uuid.uuid4())  # a new delivery of the month
        manifest.write_text(json.dumps(content))
        return str(data_file)

    def ingest() -> LoadRecord:
        outcome = source.ingest("2026-09", tmp / "bronze", tmp / "scratch")
        assert outcome.status == "loaded" and outcome.record is not None
        return outcome.record

    return Case("aws legacy CUR", tmp, header, rows, "lineItem/UnblendedCost", "lineItem/CurrencyCode",
                {"commas_quotes": ("product/ProductName", "product_product_name"),
                 "newlines": ("lineItem/LineItemDescription", "line_item_line_item_description"),
                 "json": ("lineItem/ResourceId", "line_item_resource_id")},
                deliver, ingest, lambda: aws_bronze_path(tmp / "bronze", "acme-payer", "2026-09"), "unblended")


AZURE_EA = AzureSourceSpec(
    agreement="ea", billing_account_id="8611537", billing_account_name="Contoso (EA)",
    profiles=(BillingProfile("8611537", "Contoso", "USD"),),
    subscriptions=(Subscription("6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7", "Prod"),),
    actual_path="costs/contoso-actual", amortized_path="costs/contoso-amortized",
    actual_format="csv.gz", amortized_format="csv", rows_per_sub_day=1, seed=5,
)
AZURE_MCA = AzureSourceSpec(
    agreement="mca", billing_account_id="5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31",
    billing_account_name="Fabrikam", profiles=(BillingProfile("FB1P-9KX2-BG7-PGB", "Fabrikam US", "USD"),),
    subscriptions=(Subscription("b7e6d5c4-a3b2-4c1d-9e0f-a1b2c3d4e5f6", "Web", 0),),
    actual_path="fabrikam/actual-cost", amortized_path="fabrikam/amortized-cost",
    actual_format="csv", amortized_format="csv", rows_per_sub_day=1, seed=9,
)


def azure_case(tmp: Path, spec: AzureSourceSpec) -> Case:
    root = tmp / "container"
    month = write_source_month(root, spec, "2026-09")
    blob, manifest = root / month.actual.data_keys[0], root / str(month.actual.manifest_key)
    raw = blob.read_bytes()
    header, rows = parse(gzip.decompress(raw) if blob.name.endswith(".gz") else raw)
    charge = header.index("ChargeType" if spec.agreement == "ea" else "chargeType")
    rows = [r for r in rows if r[charge] == "Usage"][:3]
    account = AzureAccount.model_validate({
        "key": "azure-src", "provider": "azure", "billing_account_id": spec.billing_account_id,
        "exports": {"actual": {"container": str(root), "path": spec.actual_path},
                    "amortized": {"container": str(root), "path": spec.amortized_path}},
    })
    source = AzureBillingSource(account)

    def deliver(data: bytes, count: int) -> str:
        payload = gzip.compress(data) if blob.name.endswith(".gz") else data
        blob.write_bytes(payload)
        content = json.loads(manifest.read_text())
        content["blobs"][0].update(byteCount=len(payload), dataRowCount=count)
        manifest.write_text(json.dumps(content))
        return str(blob)

    def ingest() -> LoadRecord:
        outcome = source.ingest("2026-09", tmp / "bronze", tmp / "scratch", force=True)
        assert outcome.status == "loaded"
        return next(r for r in outcome.records if r.dataset == "actual")

    names = ({"commas_quotes": "MeterName", "newlines": "ResourceName", "json": "AdditionalInfo"}
             if spec.agreement == "ea" else
             {"commas_quotes": "meterName", "newlines": "resourceGroupName", "json": "additionalInfo"})
    bronze = {"commas_quotes": "meter_name", "newlines": "resource_name" if spec.agreement == "ea" else "resource_group",
              "json": "additional_info"}
    cost, currency = (("CostInBillingCurrency", "BillingCurrencyCode") if spec.agreement == "ea"
                      else ("costInBillingCurrency", "billingCurrency"))
    return Case(f"azure {spec.agreement}", tmp, header, rows, cost, currency,
                {kind: (names[kind], bronze[kind]) for kind in names}, deliver, ingest,
                lambda: azure_bronze_path(tmp / "bronze", "actual", "azure-src", "2026-09"), "cost")


def oci_case(tmp: Path) -> Case:
    generated = generate_tenancy(oci_spec(usage=False))
    for report in (o for o in generated.objects if o.dataset == "cost"):  # tag columns differ per object
        header, rows = parse(gzip.decompress(report.data))
        start, currency = header.index("lineItem/intervalUsageStart"), header.index("cost/currencyCode")
        correction = header.index("lineItem/isCorrection")
        rows = [r for r in rows if r[start].startswith("2026-10") and r[currency] and r[correction] != "true"][:3]
        if len(rows) == 3:
            break
    bucket = tmp / "bucket"
    account = OciAccount.model_validate({
        "provider": "oci", "key": "oci-src", "tenancy_ocid": generated.spec.tenancy_ocid, "bucket": str(bucket),
        "reports": ["cost"],
    })
    source = OciTenancySource(account)
    numbers = iter(range(1, 100))

    def deliver(data: bytes, _rows: int) -> str:
        # OCI never rewrites a report: a new delivery is a new object.
        path = bucket / "reports" / "cost-csv" / f"{1000000000000 + next(numbers):016d}.csv.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data))
        return str(path)

    def ingest() -> LoadRecord:
        outcome = source.ingest("2026-10", tmp / "bronze", tmp / "scratch")
        assert outcome.status == "loaded"
        return outcome.records[0]

    return Case("oci cost report", tmp, header, rows, "cost/myCost", "cost/currencyCode",
                {"commas_quotes": ("product/Description", "product_description"),
                 "newlines": ("product/availabilityDomain", "availability_domain"),
                 "json": ("cost/skuUnitDescription", "sku_unit_description")},
                deliver, ingest, lambda: oci_bronze_path(tmp / "bronze", COST, "oci-src", "2026-10"), "cost")


READERS: dict[str, Callable[[Path], Case]] = {
    "aws": aws_case,
    "azure-ea": lambda tmp: azure_case(tmp, AZURE_EA),
    "azure-mca": lambda tmp: azure_case(tmp, AZURE_MCA),
    "oci": oci_case,
}


def bronze_values(path: Path, column: str) -> list[str]:
    return [r[0] for r in duckdb.execute(f"SELECT {column} FROM read_parquet('{path}')").fetchall()]


# --- valid shapes load, exactly -----------------------------------------------------------------------------


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_every_reader_loads_every_valid_csv_shape_exactly(tmp_path: Path, reader: str, shape: Shape) -> None:
    case = READERS[reader](tmp_path)
    rows = case.rows(shape)
    assert len(rows) == shape.rows
    case.deliver(write_shape(case.header, rows, shape), len(rows))
    record = case.ingest()
    assert record.rows == shape.rows
    assert record.total(case.amount) == case.expected(rows)
    for kind in shape.hard:
        assert bronze_values(case.bronze(), case.hard_columns[kind][1]) == [HARD_VALUES[kind]] * shape.rows
    assert "ragged_rows" not in record.counters or record.counters["ragged_rows"] == 0


def test_a_sixty_column_mca_export_the_strict_sniffer_refuses_loads(tmp_path: Path) -> None:
    """A real few-row MCA export (camelCase, 60 columns, JSON in quoted fields) was refused as "truncated or
    corrupt": DuckDB's sniffer fails on it when the header line ends in CRLF and the rows in LF."""
    case = azure_case(tmp_path, AZURE_MCA)
    width = 60
    assert len(mca_columns()) > width
    header = case.header[:width]
    assert {"date", "costInBillingCurrency", "billingCurrency", "tags", "additionalInfo"} <= set(header)
    rows = [row[:width] for row in case.rows(Shape("mca", rows=2, hard=("json", "commas_quotes")))]
    data = write_shape(header, rows, Shape("mca", rows=2, header_newline="\r\n"))
    probe = tmp_path / "probe.csv"
    probe.write_bytes(data)
    with pytest.raises(duckdb.Error, match="sniffing"):
        duckdb.execute(f"SELECT count(*) FROM read_csv('{probe}', header = true, all_varchar = true)").fetchall()

    case.deliver(data, len(rows))
    record = case.ingest()
    assert record.rows == 2 and record.format == "mca"
    assert record.total("cost") == case.expected(rows)
    assert bronze_values(case.bronze(), "additional_info") == [JSON, JSON]


def test_aws_rows_with_fewer_fields_and_quoted_line_breaks_load_and_are_counted(tmp_path: Path) -> None:
    """AWS's documented short rows, in a file that also has a quoted line break: DuckDB's parallel parser cannot
    pad rows there, so the file is read through the rewritten copy, with the same rows and totals."""
    case = aws_case(tmp_path)
    rows = case.rows(Shape("aws", rows=3, hard=("newlines",)))
    width = len(case.header)
    assert case.header[-2:] == ["resourceTags/user:env", "resourceTags/user:team"]
    for row in rows[1:]:
        row[-2:] = []  # an untagged row with its empty tag fields left off, as AWS writes them
    assert all(len(r) < width for r in rows[1:])  # really short
    case.deliver(write_shape(case.header, rows, Shape("aws", rows=3)), 3)
    record = case.ingest()
    assert (record.rows, record.counters["ragged_rows"]) == (3, 2)
    assert record.total("unblended") == case.expected(rows)
    assert any("2 row(s) had fewer fields" in note for note in record.notes)


# --- broken files are refused by file, line and column ------------------------------------------------------


def broken_line(cells: list[str], index: int, raw: str) -> str:
    """One CSV line with the cell at ``index`` written as ``raw`` text (every other cell quoted properly)."""
    return ",".join(raw if i == index else csv_line([cell], False) for i, cell in enumerate(cells))


def loaded_case(tmp_path: Path, reader: str) -> Case:
    case = READERS[reader](tmp_path)
    rows = case.rows(Shape("good", rows=3))
    case.deliver(write_shape(case.header, rows, Shape("good", rows=3)), 3)
    case.ingest()
    return case


def refuse(case: Case, data: bytes) -> str:
    before = case.snapshot()
    described = case.deliver(data, 3)
    with pytest.raises(ExportFormatError) as raised:
        case.ingest()
    assert case.snapshot() == before, "the last good bronze file or its record changed"
    message = str(raised.value)
    assert described in message
    assert "cannot fix" in message.lower() and "last good data is kept" in message
    return message


@pytest.mark.parametrize("reader", ["aws", "azure-ea", "oci"])
def test_a_row_with_more_fields_than_the_header_is_refused(tmp_path: Path, reader: str) -> None:
    case = loaded_case(tmp_path, reader)
    rows = case.rows(Shape("more", rows=3))
    rows[1].append("lost value")  # data line 2 of the file is line 3
    message = refuse(case, write_shape(case.header, rows, Shape("more", rows=3)))
    width = len(case.header)
    assert f"line 3, column {width + 1}: malformed CSV: the row has {width + 1} fields but the header has {width}" in message
    assert "lost value" not in message  # no cell is quoted back


@pytest.mark.parametrize("reader", ["aws", "azure-ea", "oci"])
def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path, reader: str) -> None:
    case = loaded_case(tmp_path, reader)
    column = case.hard_columns["commas_quotes"][0]
    index = case.header.index(column)
    rows = case.rows(Shape("latin1", rows=3))
    rows[0][index] = "caf\u00e9"
    data = write_shape(case.header, rows, Shape("latin1", rows=3)).replace("caf\u00e9".encode(), b"caf\xe9")
    message = refuse(case, data)
    assert f"line 2, column {index + 1}: not UTF-8 text (byte 0xE9)" in message


@pytest.mark.parametrize("reader", ["aws", "azure-ea", "oci"])
def test_an_unterminated_quote_is_refused(tmp_path: Path, reader: str) -> None:
    case = loaded_case(tmp_path, reader)
    index = len(case.header) - 1  # the last field of the last row: the file ends inside the quotes
    rows = case.rows(Shape("open", rows=3))
    lines = [csv_line(r, False) for r in [case.header, *rows[:2]]] + [broken_line(rows[2], index, '"never closed')]
    message = refuse(case, "\n".join(lines).encode() + b"\n")
    assert (f"line 4, column {index + 1} ({case.header[index]}): malformed CSV: a quoted field is never closed "
            "(unterminated quote)") in message


@pytest.mark.parametrize("reader", ["aws", "azure-ea", "oci"])
def test_quotes_that_do_not_pair_up_are_refused(tmp_path: Path, reader: str) -> None:
    case = loaded_case(tmp_path, reader)
    column = case.hard_columns["commas_quotes"][0]
    index = case.header.index(column)
    rows = case.rows(Shape("q", rows=3))
    lines = [csv_line(r, False) for r in [case.header, *rows[:2]]] + [broken_line(rows[2], index, '"D2s "v3" Spot"')]
    message = refuse(case, "\r\n".join(lines).encode() + b"\r\n")
    assert f"line 4, column {index + 1} ({column}): malformed CSV: text after the closing quote" in message


def test_a_header_only_file_is_zero_rows_for_every_reader(tmp_path: Path) -> None:
    for reader in ("aws", "azure-ea", "azure-mca"):
        case = READERS[reader](tmp_path / reader)
        case.deliver(write_shape(case.header, [], Shape("header only", rows=0, newline="\r\n", bom=True)), 0)
        record = case.ingest()
        assert record.rows == 0, reader
        assert all(value == 0 for value in record.total(case.amount).values()), reader
    # An OCI report is one of many objects of a month: a header-only one holds rows of no month at all.
    case = oci_case(tmp_path / "oci")
    case.deliver(write_shape(case.header, [], Shape("header only", rows=0)), 0)
    bucket = OciTenancySource(OciAccount.model_validate({
        "provider": "oci", "key": "oci-src", "tenancy_ocid": oci_spec().tenancy_ocid, "bucket": str(tmp_path / "oci" / "bucket"),
        "reports": ["cost"],
    }))
    assert bucket.ingest("2026-10", tmp_path / "oci" / "bronze", tmp_path / "oci" / "scratch").status == "no_export"


def test_generated_files_are_what_the_shapes_say() -> None:
    """The writer itself: a wrong corpus would prove nothing."""
    data = write_shape(["a", "b"], [["1", NEWLINES], ["2", JSON]], SHAPES[-1])
    assert data.startswith(b"\xef\xbb\xbfa,b,\n1,")
    assert b'"first line\nsecond line\r\nthird line",\r\n' in data
    assert ('"' + JSON.replace('"', '""') + '",\r\n\r\n').encode() in data  # quotes doubled, empty last line
    assert write_shape(["a"], [["1"]], Shape("x", rows=1, final_newline=False)) == b"a\n1"
