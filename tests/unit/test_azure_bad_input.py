"""Azure exports read from a local folder laid out like the container (LocalStore: the same code path as
Blob Storage), good and bad.

Each bad input fails with an ExportError that names the blob / manifest / line and says what to do, and
the last good bronze files of BOTH datasets and their load records survive byte for byte. Valid-but-odd
inputs (an empty export, mixed currencies, tags without braces, an older manifest-less export, a
re-export) load with the generator's exact Decimal totals.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.azure.source import DATASETS, AzureBillingSource, bronze_path
from connectors.errors import (
    ExportError,
    ExportFormatError,
    ExportNotFoundError,
    RestatementShrinkError,
    UnsafeKeyError,
)
from connectors.limits import CompressionBombError
from connectors.records import RestatementGuard, record_path_for
from demo.azure.generator import (
    AzureSourceSpec,
    BillingProfile,
    GeneratedAzureMonth,
    Subscription,
    ea_columns,
    write_source_month,
)
from orchestration.providers.azure import AZURE
from registry.azure import AzureAccount

PERIOD = "2026-09"
KEY = "contoso-ea"

SMALL_EA = AzureSourceSpec(
    agreement="ea", billing_account_id="8611537", billing_account_name="Contoso (EA)",
    profiles=(BillingProfile("8611537", "Contoso", "USD"),),
    subscriptions=(Subscription("6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7", "Prod"),
                   Subscription("0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d", "Dev")),
    actual_path="costs/contoso-actual", amortized_path="costs/contoso-amortized",
    actual_format="csv.gz", amortized_format="csv", actual_parts=2, rows_per_sub_day=1, seed=5,
)
SMALL_MCA = AzureSourceSpec(
    agreement="mca", billing_account_id="5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11:7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47_2019-05-31",
    billing_account_name="Fabrikam",
    profiles=(BillingProfile("FB1P-9KX2-BG7-PGB", "Fabrikam US", "USD"),
              BillingProfile("FB2P-4LQ8-BG7-PGB", "Fabrikam EU", "EUR", usd_rate=Decimal("1.08"))),
    subscriptions=(Subscription("b7e6d5c4-a3b2-4c1d-9e0f-a1b2c3d4e5f6", "Web", 0),
                   Subscription("c8d9e0f1-a2b3-4c4d-8e5f-6a7b8c9d0e1f", "EU Shop", 1)),
    actual_path="fabrikam/actual-cost", amortized_path="fabrikam/amortized-cost",
    actual_format="csv", amortized_format="parquet", rows_per_sub_day=1, commitment="savings_plan", seed=9,
)


def account_for(spec: AzureSourceSpec, root: Path, key: str = KEY, **changes: object) -> AzureAccount:
    data: dict[str, object] = {
        "key": key, "provider": "azure", "billing_account_id": spec.billing_account_id,
        "exports": {"actual": {"container": str(root), "path": spec.actual_path},
                    "amortized": {"container": str(root), "path": spec.amortized_path}},
    }
    data.update(changes)
    return AzureAccount.model_validate(data)


@dataclass
class Loaded:
    root: Path
    tmp: Path
    spec: AzureSourceSpec
    month: GeneratedAzureMonth
    source: AzureBillingSource

    @property
    def bronze(self) -> Path:
        return self.tmp / "bronze"

    def ingest(self, period: str = PERIOD, **kwargs: object):
        return self.source.ingest(period, self.bronze, self.tmp / "scratch", **kwargs)  # type: ignore[arg-type]

    def snapshot(self, period: str = PERIOD) -> dict[str, bytes]:
        files = {}
        for dataset in DATASETS:
            path = bronze_path(self.bronze, dataset, KEY, period)
            files[str(path)] = path.read_bytes()
            files[str(record_path_for(path))] = record_path_for(path).read_bytes()
        return files

    def assert_kept(self, before: dict[str, bytes]) -> None:
        assert {path: Path(path).read_bytes() for path in before} == before
        assert not list(self.bronze.rglob(".tmp-*")), "a temporary bronze file was left behind"

    def month_folder(self, dataset: str, period: str = PERIOD) -> str:
        path = self.spec.actual_path if dataset == "actual" else self.spec.amortized_path
        start = period.replace("-", "") + "01"
        end = {"2026-09": "20260930", "2026-10": "20261031", "2026-11": "20261130"}[period]
        return f"{path}/{start}-{end}"

    def write_run(self, dataset: str, run_id: str, blobs: dict[str, bytes], *, submitted: str = "2026-10-05T06:00:00",
                  manifest_blobs: list[dict[str, object]] | None = None, kind: str | None = None,
                  period: str = PERIOD) -> str:
        """A new run folder of ``dataset`` with these blobs and a manifest listing them (or manifest_blobs)."""
        folder = f"{self.month_folder(dataset, period)}/{run_id}"
        entries = []
        for name, data in blobs.items():
            (self.root / folder / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / folder / name).write_bytes(data)
            entries.append({"blobName": f"{folder}/{name}", "byteCount": len(data)})
        manifest = {
            "exportConfig": {"exportName": "x", "type": kind or ("ActualCost" if dataset == "actual" else "AmortizedCost")},
            "runInfo": {"runId": run_id, "submittedTime": submitted},
            "blobs": entries if manifest_blobs is None else manifest_blobs,
        }
        (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        return folder

    def current_blob(self, dataset: str) -> Path:
        run = self.month.actual if dataset == "actual" else self.month.amortized
        return self.root / run.data_keys[0]


def _load(tmp_path: Path, spec: AzureSourceSpec = SMALL_EA, **changes: object) -> Loaded:
    root = tmp_path / "container"
    month = write_source_month(root, spec, PERIOD)
    loaded = Loaded(root, tmp_path, spec, month, AzureBillingSource(account_for(spec, root, **changes)))
    outcome = loaded.ingest()
    assert outcome.status == "loaded"
    return loaded


@pytest.fixture
def loaded(tmp_path: Path) -> Loaded:
    return _load(tmp_path)


def csv_text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8-sig")


def test_month_loads_both_datasets_with_the_oracle_totals(loaded: Loaded) -> None:
    month = loaded.month
    records = {r.dataset: r for r in loaded.source.records(loaded.bronze)}
    for dataset, run in (("actual", month.actual), ("amortized", month.amortized)):
        record = records[dataset]
        assert record.run_id == run.run_id and record.rows == run.rows and record.format == "ea"
        got = {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in record.totals}
        assert got == run.totals
        assert AZURE.verify_bronze(record) == []
    # Purchases only in actual: the actual total is the amortized total plus the purchase minus what the
    # amortized export spreads (covered usage + unused commitment).
    assert month.actual.total("USD") - month.amortized.total("USD") == (
        month.purchases - month.covered_usage_effective - month.unused_commitment
    )
    assert loaded.source.current_run(PERIOD) == ("contoso-actual+contoso-amortized", month.run_token)


def test_unchanged_runs_are_skipped_and_a_reexport_replaces_the_month(loaded: Loaded) -> None:
    assert loaded.ingest().status == "unchanged"
    rerun = write_source_month(loaded.root, SMALL_EA, PERIOD, revision=1)
    assert loaded.source.current_run(PERIOD) == ("contoso-actual+contoso-amortized", rerun.run_token)
    outcome = loaded.ingest()
    assert outcome.status == "loaded" and outcome.run_id == rerun.run_token
    records = {r.dataset: r for r in outcome.records}
    assert records["actual"].rows == rerun.actual.rows > loaded.month.actual.rows  # the re-export has late usage
    con = duckdb.connect()
    runs = con.execute(
        "select distinct x_source_run_id from read_parquet(?)", [str(bronze_path(loaded.bronze, "actual", KEY, PERIOD))]
    ).fetchall()
    assert runs == [(rerun.actual.run_id,)]  # the first run's files, still in the folder, are not read


def test_empty_export_is_zero_cost_not_an_error(loaded: Loaded) -> None:
    header = ("\ufeff" + ",".join(ea_columns()) + "\n").encode("utf-8")
    for dataset in DATASETS:
        loaded.write_run(dataset, f"empty-{dataset}", {"part_0_0001.csv": header}, submitted="2026-10-09T00:00:00")
        # A month that never had rows: an empty export is simply zero cost.
        loaded.write_run(dataset, f"empty-{dataset}", {"part_0_0001.csv": header}, period="2026-10")
    fresh = loaded.ingest("2026-10")
    assert fresh.status == "loaded" and [r.rows for r in fresh.records] == [0, 0]
    # The month had rows: emptying it takes this run's acceptance (see the restatement tests below).
    outcome = loaded.ingest(guard=RestatementGuard(accept=True))
    assert outcome.status == "loaded"
    for record in outcome.records:
        assert (record.rows, record.totals) == (0, [])
        assert "empty export" in " ".join(record.notes)
        [(rows,)] = duckdb.sql(f"select count(*) from read_parquet('{record.bronze_file}')").fetchall()
        assert rows == 0
        assert AZURE.verify_bronze(record) == []
        assert AZURE.expectations(None, loaded.source.account, record) == []  # type: ignore[arg-type]


def test_missing_cost_column_names_the_blob_and_keeps_the_last_good_month(loaded: Loaded) -> None:
    before = loaded.snapshot()
    text = csv_text(loaded.current_blob("amortized"))
    lines = text.splitlines()
    header = lines[0].split(",")
    index = header.index("CostInBillingCurrency")
    import csv
    import io

    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row[:index] + row[index + 1 :])
    loaded.write_run("actual", "run-b-actual", {"part_0_0001.csv": csv_text(loaded.current_blob("actual")).encode()})
    folder = loaded.write_run("amortized", "run-b", {"part_0_0001.csv": out.getvalue().encode()})
    with pytest.raises(ExportFormatError) as caught:
        loaded.ingest()
    message = str(caught.value)
    assert message.startswith(f"{loaded.root}/{folder}/part_0_0001.csv: unknown cost details schema")
    assert "no cost_in_billing_currency column" in message and "CostInBillingCurrency | costInBillingCurrency" in message
    assert "Columns found (54): InvoiceSectionName, AccountName" in message
    loaded.assert_kept(before)


def test_manifest_naming_an_absent_blob_fails_and_keeps_the_last_good_month(loaded: Loaded) -> None:
    before = loaded.snapshot()
    folder = f"{loaded.month_folder('actual')}/run-c"
    loaded.write_run("actual", "run-c", {}, manifest_blobs=[{"blobName": f"{folder}/part_0_0001.csv.gz", "byteCount": 10}])
    with pytest.raises(ExportNotFoundError) as caught:
        loaded.ingest()
    message = str(caught.value)
    assert message.startswith(f"{loaded.root}/{folder}/part_0_0001.csv.gz: listed in manifest {loaded.root}/{folder}/manifest.json")
    assert "(run run-c) but absent" in message and "last good data for 2026-09 is kept" in message
    loaded.assert_kept(before)


def test_blob_path_with_dotdot_is_refused(loaded: Loaded) -> None:
    before = loaded.snapshot()
    (loaded.root.parent / "outside.csv").write_text("SubscriptionId,Date\n", encoding="utf-8")
    loaded.write_run("amortized", "run-d", {}, manifest_blobs=[{"blobName": "costs/contoso-amortized/../../../outside.csv"}])
    with pytest.raises(UnsafeKeyError, match=r"contains '\.\.' or another path trick; refusing to read it"):
        loaded.ingest()
    loaded.assert_kept(before)


def test_truncated_blob_is_caught_by_the_manifest_byte_count(loaded: Loaded) -> None:
    before = loaded.snapshot()
    blob = loaded.current_blob("actual")  # part_0_0001.csv.gz
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])  # a half-written blob of the current run
    with pytest.raises(ExportFormatError, match=rf"is {len(data) // 2} bytes but manifest .* says {len(data)}"):
        loaded.ingest(force=True)
    loaded.assert_kept(before)
    # Without a byte count in the manifest the gzip stream itself is checked to its end.
    run = loaded.month.actual
    manifest = loaded.root / str(run.manifest_key)
    content = json.loads(manifest.read_text())
    for entry in content["blobs"]:
        entry.pop("byteCount")
    manifest.write_text(json.dumps(content))
    with pytest.raises(ExportFormatError, match="gzip stream is truncated or corrupt"):
        loaded.ingest(force=True)
    loaded.assert_kept(before)


def test_rows_missing_against_the_manifest_row_count(loaded: Loaded) -> None:
    before = loaded.snapshot()
    text = csv_text(loaded.current_blob("amortized"))
    lines = text.splitlines(keepends=True)
    short = "".join(lines[:-1]).encode()  # one row lost, yet a well-formed CSV
    folder = f"{loaded.month_folder('amortized')}/run-e"
    loaded.write_run("actual", "run-e-actual", {"part_0_0001.csv": csv_text(loaded.current_blob("actual")).encode()})
    loaded.write_run("amortized", "run-e", {"part_0_0001.csv": short},
                     manifest_blobs=[{"blobName": f"{folder}/part_0_0001.csv", "dataRowCount": len(lines) - 1}])
    with pytest.raises(ExportFormatError, match=rf"has {len(lines) - 2} data rows but manifest .* says {len(lines) - 1}"):
        loaded.ingest()
    loaded.assert_kept(before)


def test_unreadable_date_names_file_line_and_column(loaded: Loaded) -> None:
    before = loaded.snapshot()
    text = csv_text(loaded.current_blob("amortized"))
    lines = text.splitlines(keepends=True)
    date_value = lines[3].split(",")[7]
    lines[3] = lines[3].replace(f",{date_value},", ",31.09.2026,", 1)
    loaded.write_run("actual", "run-f-actual", {"part_0_0001.csv": csv_text(loaded.current_blob("actual")).encode()})
    folder = loaded.write_run("amortized", "run-f", {"part_0_0001.csv": "".join(lines).encode()})
    with pytest.raises(ExportFormatError) as caught:
        loaded.ingest()
    assert str(caught.value).startswith(
        f"{loaded.root}/{folder}/part_0_0001.csv: line 4: column Date: cannot read '31.09.2026' as a date"
    )
    loaded.assert_kept(before)


def test_a_month_with_only_one_dataset_is_not_half_loaded(loaded: Loaded) -> None:
    write_source_month(loaded.root, SMALL_EA, "2026-10")
    amortized_month = loaded.root / loaded.month_folder("amortized", "2026-10")
    for path in sorted(amortized_month.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    assert loaded.source.current_run("2026-10") is None  # the sensor waits for both
    with pytest.raises(ExportNotFoundError, match="the amortized export has no run for 2026-10, but the actual export has one"):
        loaded.ingest("2026-10")
    assert not bronze_path(loaded.bronze, "actual", KEY, "2026-10").exists()


def test_export_of_another_billing_account_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "container"
    write_source_month(root, SMALL_EA, PERIOD)
    source = AzureBillingSource(account_for(SMALL_EA, root, billing_account_id="7777777"))
    with pytest.raises(ExportFormatError, match="rows belong to billing account.* 8611537, not 7777777"):
        source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")
    assert not (tmp_path / "bronze" / "azure_actual").exists() or not list((tmp_path / "bronze").rglob("*.parquet"))


MCA_ACCOUNT_GUID = "5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11"


@pytest.mark.parametrize(
    ("registered", "printed"),
    [
        # An MCA account registered in full; its export prints only the account's own GUID, in either case.
        (SMALL_MCA.billing_account_id, MCA_ACCOUNT_GUID),
        (SMALL_MCA.billing_account_id, MCA_ACCOUNT_GUID.upper()),
        # ... and the other way round: registered short, the export prints the full id.
        (MCA_ACCOUNT_GUID, SMALL_MCA.billing_account_id),
        (MCA_ACCOUNT_GUID.upper(), SMALL_MCA.billing_account_id.upper()),
        # A Partner Center id and a bare GUID (MOSA), the prefix / GUID in another case than registered.
        ("PCN.7492839AB", "pcn.7492839ab"),
        ("0b7c1e52-3d4f-4a6b-8c9d-0e1f2a3b4c5d", "0B7C1E52-3D4F-4A6B-8C9D-0E1F2A3B4C5D"),
    ],
)
def test_billing_account_is_matched_the_way_azure_treats_its_ids(tmp_path: Path, registered: str, printed: str) -> None:
    root = tmp_path / "container"
    spec = replace(SMALL_MCA, billing_account_id=registered, printed_billing_account_id=printed)
    month = write_source_month(root, spec, PERIOD)
    source = AzureBillingSource(account_for(spec, root))
    outcome = source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")
    assert outcome.status == "loaded"
    by_dataset = {record.dataset: record for record in outcome.records}
    for dataset, run in (("actual", month.actual), ("amortized", month.amortized)):
        assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in by_dataset[dataset].totals} == {
            key: (rows, cost.normalize()) for key, (rows, cost) in run.totals.items()
        }
    bronze = bronze_path(tmp_path / "bronze", "actual", KEY, PERIOD)
    # Bronze keeps what the export printed: the warehouse shows the provider's own id.
    assert duckdb.sql(f"select distinct billing_account_id from read_parquet('{bronze}')").fetchall() == [(printed,)]


@pytest.mark.parametrize(
    ("registered", "printed"),
    [
        # Another MCA account (first GUID differs), whatever the rest says.
        (SMALL_MCA.billing_account_id, "6e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11"),
        ("6e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11", SMALL_MCA.billing_account_id),
        # The organization GUID of an MCA id is not the account: registered short, an export of another
        # account whose tenant GUID happens to be ours is not ours.
        (MCA_ACCOUNT_GUID, "7f2c9b3d-1a4e-4f8b-a6c5-3d9e0b1f2a47:5e3a1f0c-8d2b-4c6a-9f1e-2b7c4d9a0e11_2019-05-31"),
        ("PCN.7492839", "PCN.74928390"),
        ("7492839", "PCN.7492839"),
    ],
)
def test_rows_of_another_billing_account_are_refused(tmp_path: Path, registered: str, printed: str) -> None:
    root = tmp_path / "container"
    spec = replace(SMALL_MCA, billing_account_id=registered, printed_billing_account_id=printed)
    write_source_month(root, spec, PERIOD)
    source = AzureBillingSource(account_for(spec, root))
    with pytest.raises(ExportFormatError) as raised:
        source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")
    assert f"rows belong to billing account(s) {printed}, not {registered} as registered for '{KEY}'" in str(raised.value)
    assert not list((tmp_path / "bronze").rglob("*.parquet"))


def test_swapped_exports_are_refused_by_the_manifest_type(tmp_path: Path) -> None:
    root = tmp_path / "container"
    write_source_month(root, SMALL_EA, PERIOD)
    swapped = replace(SMALL_EA, actual_path=SMALL_EA.amortized_path, amortized_path=SMALL_EA.actual_path)
    source = AzureBillingSource(account_for(swapped, root))
    with pytest.raises(ExportFormatError, match="type 'AmortizedCost', but the registry reads it as the actual dataset"):
        source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")


def test_missing_container_folder_is_an_error_not_no_export(tmp_path: Path) -> None:
    source = AzureBillingSource(account_for(SMALL_EA, tmp_path / "nowhere"))
    with pytest.raises(ExportNotFoundError, match="folder not found; check 'container' in the registry"):
        source.billing_periods()


def test_mixed_currencies_in_one_file_stay_per_row(tmp_path: Path) -> None:
    loaded = _load(tmp_path, SMALL_MCA, key=KEY)
    records = {r.dataset: r for r in loaded.source.records(loaded.bronze)}
    actual = records["actual"]
    assert {t.currency for t in actual.totals} == {"USD", "EUR"}
    # One file holds both billing profiles; every total is per currency, never across.
    assert actual.total("cost") == {c: loaded.month.actual.total(c) for c in ("EUR", "USD")}
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in actual.totals} == loaded.month.actual.totals
    # The support plan has no subscription: its sub account is the billing profile.
    assert ("FB1P-9KX2-BG7-PGB", "USD") in loaded.month.actual.totals
    amortized = records["amortized"]  # Parquet with doubles: still the exact decimals
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in amortized.totals} == loaded.month.amortized.totals
    assert (actual.format, amortized.format) == ("mca", "mca")


def test_tags_with_and_without_braces_and_both_date_styles(tmp_path: Path) -> None:
    ea = _load(tmp_path / "ea")
    mca = _load(tmp_path / "mca", SMALL_MCA, key=KEY)
    for item in (ea, mca):
        path = bronze_path(item.bronze, "amortized", KEY, PERIOD)
        rows = duckdb.sql(
            f"select tags, tags_json, charge_date, billing_period_start_date from read_parquet('{path}') where tags is not null"
        ).fetchall()
        assert rows
        for raw, tags_json, charge_date, period_start in rows:
            parsed = json.loads(tags_json)
            assert isinstance(parsed, dict) and parsed
            assert raw.startswith("{") == (item is mca)  # EA writes Tags without the outer braces
            assert charge_date.strftime("%Y-%m") == PERIOD and period_start.isoformat() == "2026-09-01"


def test_older_export_without_manifest_reads_only_the_newest_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "container"
    month = write_source_month(root, SMALL_MCA, PERIOD, layout="files")
    folder = root / SMALL_MCA.actual_path / "20260901-20260930"
    assert len(list(folder.iterdir())) == 2  # the stale, smaller snapshot is still there
    source = AzureBillingSource(account_for(SMALL_MCA, root))
    outcome = source.ingest(PERIOD, tmp_path / "bronze", tmp_path / "scratch")
    records = {r.dataset: r for r in outcome.records}
    assert records["actual"].run_id == month.actual.run_id and records["actual"].rows == month.actual.rows
    assert records["amortized"].rows == month.amortized.rows
    assert {(t.sub_account_id, t.currency): (t.rows, t.amounts["cost"]) for t in records["actual"].totals} == month.actual.totals


def test_unchanged_error_free_reload_after_failure(loaded: Loaded) -> None:
    """After a failed re-export is fixed, the next run loads it (nothing sticky from the failure)."""
    folder = f"{loaded.month_folder('actual')}/run-g"
    loaded.write_run("actual", "run-g", {}, manifest_blobs=[{"blobName": f"{folder}/part_0_0001.csv.gz"}])
    with pytest.raises(ExportError):
        loaded.ingest()
    (loaded.root / folder / "part_0_0001.csv.gz").write_bytes(loaded.current_blob("actual").read_bytes())
    outcome = loaded.ingest()
    assert outcome.status == "loaded" and outcome.run_id.startswith("run-g+")


# --- hostile inputs: compression bombs, links out of the folder, files that are not exports -----------------

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def test_gzip_bomb_is_refused_as_a_bomb(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    before = loaded.snapshot()
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", str(1 / 1024))  # 1 MiB keeps the test fast
    loaded.write_run("actual", "run-bomb", {"part_0_0001.csv.gz": gzip.compress(b"0" * 20_000_000)})
    with pytest.raises(CompressionBombError) as caught:
        loaded.ingest()
    message = str(caught.value)
    assert "part_0_0001.csv.gz: expands beyond 1.0 MiB: refusing a possible compression bomb" in message
    assert "truncated" not in message
    loaded.assert_kept(before)


def test_a_blob_linked_out_of_the_container_folder_is_refused_by_name(loaded: Loaded) -> None:
    before = loaded.snapshot()
    outside = loaded.tmp / "passwd"
    outside.write_text(PASSWD)
    folder = loaded.write_run("actual", "run-link", {"part_0_0001.csv": b"placeholder"})
    link = loaded.root / folder / "part_0_0001.csv"
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(UnsafeKeyError) as caught:
        loaded.ingest()
    message = str(caught.value)
    assert str(link) in message and "outside the registered folder" in message and "root:x" not in message
    loaded.assert_kept(before)


def test_a_file_that_is_no_export_is_not_quoted_back(loaded: Loaded) -> None:
    before = loaded.snapshot()
    data = PASSWD.encode()
    folder = loaded.write_run("actual", "run-passwd", {"part_0_0001.csv": data})
    with pytest.raises(ExportFormatError) as caught:
        loaded.ingest()
    message = str(caught.value)
    assert message.startswith(f"{loaded.root}/{folder}/part_0_0001.csv: not an Azure cost details export (no known column")
    assert "root:x" not in message and "/bin/bash" not in message
    loaded.assert_kept(before)

# --- a restatement that shrinks a month sharply is held back, both datasets together (issue #9.3) ----------


def test_an_emptied_dataset_holds_back_the_whole_pair(loaded: Loaded) -> None:
    before = loaded.snapshot()
    header = ("\ufeff" + ",".join(ea_columns()) + "\n").encode("utf-8")
    # The actual export re-delivers the month empty; the amortized one re-delivers it unchanged.
    actual_manifest = loaded.write_run("actual", "empty-actual", {"part_0_0001.csv": header},
                                       submitted="2026-10-09T00:00:00")
    amortized = csv_text(loaded.current_blob("amortized")).encode("utf-8")
    loaded.write_run("amortized", "same-amortized", {"part_0_0001.csv": amortized}, submitted="2026-10-09T00:00:00")
    with pytest.raises(RestatementShrinkError) as raised:
        loaded.ingest()
    run, manifest = loaded.month.actual, loaded.root / actual_manifest / "manifest.json"
    assert str(raised.value) == (
        f"{KEY} {PERIOD}: the new export is held back as suspicious: actual ({manifest}): "
        f"{run.rows} rows -> 0 rows (100% fewer: an empty export), totals {run.total('USD')} USD (cost) -> none. "
        "The month keeps its last good data. If the provider really restated the month this way, accept it for one run "
        "with `costlake run --accept-shrink` (Dagster run config: accept_shrink: true on the source's asset), or allow "
        "it in the registry with max_shrink_percent (now 50) on the entry or at the top level."
    )
    loaded.assert_kept(before)  # neither dataset moved: never half a month
    outcome = loaded.ingest(guard=RestatementGuard(accept=True))
    assert {r.dataset: r.rows for r in outcome.records} == {"actual": 0, "amortized": loaded.month.amortized.rows}


def test_a_smaller_reexport_is_held_back_past_the_limit_and_loads_within_it(tmp_path: Path) -> None:
    root = tmp_path / "container"
    first = write_source_month(root, replace(SMALL_EA, rows_per_sub_day=3), PERIOD)
    source = AzureBillingSource(account_for(SMALL_EA, root))
    bronze, scratch = tmp_path / "bronze", tmp_path / "scratch"
    assert source.ingest(PERIOD, bronze, scratch).status == "loaded"
    # A re-export with one row per subscription and day instead of three: a restatement dropping charges.
    rerun = write_source_month(root, SMALL_EA, PERIOD, revision=1)
    shrink = (first.actual.rows - rerun.actual.rows) * 100 // first.actual.rows
    assert 50 < shrink < 80, shrink  # the input really shrinks past the default limit
    before = {p: p.read_bytes() for p in sorted(bronze.rglob("*")) if p.is_file()}
    with pytest.raises(RestatementShrinkError, match=rf"actual \(.*\): {first.actual.rows} rows -> {rerun.actual.rows} rows "
                       rf"\({shrink}% fewer: more than the 50% allowed\)"):
        source.ingest(PERIOD, bronze, scratch)
    assert {p: p.read_bytes() for p in sorted(bronze.rglob("*")) if p.is_file()} == before
    # The entry's own limit lets it through (what Registry.max_shrink_percent_for gives the asset).
    outcome = source.ingest(PERIOD, bronze, scratch, guard=RestatementGuard(max_shrink_percent=80))
    assert {r.dataset: r.rows for r in outcome.records} == {"actual": rerun.actual.rows, "amortized": rerun.amortized.rows}
