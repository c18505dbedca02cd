"""The AWS connector end to end against a real S3 API: boto3 -> moto's server over HTTP.

Exports are written by the deterministic generator into a temp folder, uploaded to a moto bucket and
read back through the registry model (AwsAccount) and AwsPayerSource, exactly as costlake runs them.
Nothing of ours is mocked; expected totals come from the generator's Decimal oracle.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest

from connectors.aws.source import AwsIngestOutcome, AwsPayerSource, bronze_path
from connectors.errors import ExportAccessError, ExportError, ExportNotFoundError
from connectors.records import LoadRecord, record_path_for
from connectors.storage import S3Store
from demo.aws import GeneratedMonth, PayerSpec, default_spec, write_payer_month
from registry.model import AwsAccount

pytestmark = pytest.mark.integration

PERIOD = "2026-09"
PAYER_ID = "111122223333"
PAYER_KEY = "acme-payer"
KEY_VAR = "COSTLAKE_IT_AWS_ACCESS_KEY_ID"
SECRET_VAR = "COSTLAKE_IT_AWS_SECRET_ACCESS_KEY"
PARQUET_TOLERANCE = Decimal("0.000001")
REGION = "us-east-1"
UploadTree = Callable[..., list[str]]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def connector_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The credentials the registry names by reference (moto accepts any key while auth is off)."""
    monkeypatch.setenv(KEY_VAR, "testing")
    monkeypatch.setenv(SECRET_VAR, "testing")


def export_entry(spec: PayerSpec, bucket: str, endpoint: str, **window: str) -> dict[str, Any]:
    return {
        "format": spec.fmt,
        "bucket": f"s3://{bucket}",
        "prefix": spec.prefix,
        "name": spec.name,
        "region": REGION,
        "endpoint_url": endpoint,
        **window,
    }


def make_payer(*exports: dict[str, Any], key_var: str = KEY_VAR, secret_var: str = SECRET_VAR) -> AwsAccount:
    entry: dict[str, Any] = {
        "provider": "aws",
        "key": PAYER_KEY,
        "account_id": PAYER_ID,
        "role": "payer",
        "credentials": {"access_key_id_env": key_var, "secret_access_key_env": secret_var},
    }
    if len(exports) == 1:
        entry["export"] = exports[0]
    else:
        entry["exports"] = list(exports)
    return AwsAccount.model_validate(entry)


def spec_for(fmt: str, bucket: str, compression: str | None = None) -> PayerSpec:
    spec = default_spec(fmt, bucket=bucket)  # type: ignore[arg-type]
    return replace(spec, compression=compression) if compression else spec


def ingest(source: AwsPayerSource, tmp_path: Path, period: str = PERIOD) -> AwsIngestOutcome:
    return source.ingest(period, tmp_path / "bronze", tmp_path / "scratch", threads=2, memory_limit="512MB")


def assert_matches_oracle(record: LoadRecord, month: GeneratedMonth, *, exact: bool) -> None:
    got = {t.sub_account_id: t for t in record.totals}
    assert sorted(got) == sorted(month.totals), "usage accounts differ from the generator's"
    for account_id, want in month.totals.items():
        total = got[account_id]
        assert total.currency == month.currency
        assert total.rows == want.rows, account_id
        assert total.excluded_rows == want.split_rows, account_id
        for basis in ("unblended", "blended"):
            value, expected = total.amounts[basis], getattr(want, basis)
            if exact:
                assert value == expected, f"{account_id} {basis}: {value} != {expected}"
            else:
                assert abs(value - expected) <= PARQUET_TOLERANCE, f"{account_id} {basis}: {value} vs {expected}"
    assert record.rows == sum(t.rows + t.split_rows for t in month.totals.values())
    assert record.counters["split_rows"] == sum(t.split_rows for t in month.totals.values())
    assert record.run_id == month.run_id


def bronze_stats(path: Path) -> tuple[int, set[str], set[str]]:
    con = duckdb.connect()
    try:
        relation = f"read_parquet('{path}')"
        (rows,) = con.execute(f"SELECT count(*) FROM {relation}").fetchone()  # type: ignore[misc]
        run_ids = {r[0] for r in con.execute(f"SELECT DISTINCT x_source_run_id FROM {relation}").fetchall()}
        formats = {r[0] for r in con.execute(f"SELECT DISTINCT x_export_format FROM {relation}").fetchall()}
    finally:
        con.close()
    return int(rows), run_ids, formats


# ---------------------------------------------------------------------------------------------
# Reading a month: totals equal the oracle, for every delivery format
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "compression", "exact"),
    [
        ("cur2", "parquet", False),
        ("cur2", "gzip", True),
        ("cur", "gzip", True),
        ("cur", "zip", True),
    ],
)
def test_month_over_s3_matches_generator_oracle(
    tmp_path: Path, moto_endpoint: str, bucket: str, upload: UploadTree, connector_env: None,
    fmt: str, compression: str, exact: bool,
) -> None:
    spec = spec_for(fmt, bucket, compression)
    root = tmp_path / "bucket"
    previous = write_payer_month(root, spec, "2026-08")
    month = write_payer_month(root, spec, PERIOD)
    upload(root, bucket)

    source = AwsPayerSource(make_payer(export_entry(spec, bucket, moto_endpoint)))
    assert source.billing_periods() == ["2026-08", PERIOD]

    result = ingest(source, tmp_path)
    assert result.status == "loaded"
    assert result.record is not None and result.run is not None
    record = result.record
    assert_matches_oracle(record, month, exact=exact)
    assert record.format == fmt and record.export_name == spec.name and record.billing_period == PERIOD
    assert record.source_files == [f"s3://{bucket}/{key}" for key in month.data_keys]
    assert record.manifest == f"s3://{bucket}/{month.manifest_key}"
    assert record.counters["ragged_rows"] == 0

    target = bronze_path(tmp_path / "bronze", PAYER_KEY, PERIOD)
    assert Path(record.bronze_file) == target
    rows, run_ids, formats = bronze_stats(target)
    assert rows == record.rows
    assert run_ids == {month.run_id} and formats == {fmt}
    assert LoadRecord.from_json(record_path_for(target).read_text()) == record
    # The other month is untouched by this load and loads on its own.
    assert not bronze_path(tmp_path / "bronze", PAYER_KEY, "2026-08").exists()
    other = ingest(source, tmp_path, "2026-08")
    assert other.record is not None
    assert_matches_oracle(other.record, previous, exact=exact)
    # Scratch downloads are cleaned up after each load.
    assert not any((tmp_path / "scratch").rglob("*.parquet")) and not any((tmp_path / "scratch").rglob("*.gz"))


# ---------------------------------------------------------------------------------------------
# Listing past one page (S3 returns at most 1000 keys / common prefixes per call)
# ---------------------------------------------------------------------------------------------

STALE_FOLDERS = 1020


def test_listing_and_discovery_paginate_past_1000(
    tmp_path: Path, moto_endpoint: str, bucket: str, s3: Any, upload: UploadTree, connector_env: None,
) -> None:
    spec = spec_for("cur2", bucket)
    root = tmp_path / "bucket"
    months = {period: write_payer_month(root, spec, period) for period in ("2026-07", "2026-08", PERIOD)}
    metadata = f"{spec.prefix}/{spec.name}/metadata/"
    # Clutter that sorts BEFORE 'BILLING_PERIOD=': the real period folders are on the second page.
    for n in range(STALE_FOLDERS):
        stale = root / metadata / f"0-backfill-{n:04d}" / "stale-Manifest.json"
        stale.parent.mkdir(parents=True)
        stale.write_text("{}")
    uploaded = upload(root, bucket)
    assert len(uploaded) > 1000

    # Prove the test needs pagination: one plain call does not reach the real folders.
    first_page = s3.list_objects_v2(Bucket=bucket, Prefix=metadata, Delimiter="/")
    assert first_page["IsTruncated"] is True
    assert not any("BILLING_PERIOD=" in p["Prefix"] for p in first_page["CommonPrefixes"])
    flat_page = s3.list_objects_v2(Bucket=bucket, Prefix=spec.prefix + "/")
    assert flat_page["IsTruncated"] is True and flat_page["KeyCount"] == 1000

    store = S3Store(bucket, s3)
    prefixes = store.list_prefixes(metadata)
    assert len(prefixes) == STALE_FOLDERS + len(months)
    assert [p for p in prefixes if "BILLING_PERIOD=" in p] == [
        f"{metadata}BILLING_PERIOD={period}/" for period in sorted(months)
    ]
    keys = [info.key for info in store.list(spec.prefix + "/")]
    assert sorted(keys) == sorted(uploaded)
    assert len(keys) == len(set(keys)), "a page was listed twice"

    source = AwsPayerSource(make_payer(export_entry(spec, bucket, moto_endpoint)))
    assert source.billing_periods() == sorted(months)
    result = ingest(source, tmp_path)
    assert result.status == "loaded" and result.record is not None
    assert_matches_oracle(result.record, months[PERIOD], exact=False)


# ---------------------------------------------------------------------------------------------
# A month rewritten by AWS: the new run replaces the old one; an unchanged run is skipped
# ---------------------------------------------------------------------------------------------


def test_rewrite_replaces_the_month_then_unchanged_is_skipped(
    tmp_path: Path, moto_endpoint: str, bucket: str, s3: Any, upload: UploadTree, connector_env: None,
) -> None:
    spec = spec_for("cur2", bucket)
    root = tmp_path / "bucket"
    first = write_payer_month(root, spec, PERIOD)
    upload(root, bucket)
    source = AwsPayerSource(make_payer(export_entry(spec, bucket, moto_endpoint)))
    target = bronze_path(tmp_path / "bronze", PAYER_KEY, PERIOD)

    loaded = ingest(source, tmp_path)
    assert loaded.status == "loaded" and loaded.record is not None
    assert_matches_oracle(loaded.record, first, exact=False)
    assert bronze_stats(target)[1] == {first.run_id}

    # AWS rewrites the month: new execution folder, manifest overwritten, the old files stay in the bucket.
    second = write_payer_month(root, spec, PERIOD, revision=1)
    assert second.run_id != first.run_id
    upload(root, bucket, [second.manifest_key, *second.data_keys])
    for key in first.data_keys:
        s3.head_object(Bucket=bucket, Key=key)  # stale run still there: only the manifest says what counts

    reloaded = ingest(source, tmp_path)
    assert reloaded.status == "loaded" and reloaded.record is not None
    assert reloaded.record.run_id == second.run_id
    assert_matches_oracle(reloaded.record, second, exact=False)
    rows, run_ids, _ = bronze_stats(target)
    assert run_ids == {second.run_id}, "bronze still holds rows of the replaced run"
    assert rows == reloaded.record.rows == sum(t.rows + t.split_rows for t in second.totals.values())

    bronze_bytes, record_bytes = target.read_bytes(), record_path_for(target).read_bytes()
    again = ingest(source, tmp_path)
    assert again.status == "unchanged"
    assert again.record == reloaded.record
    assert target.read_bytes() == bronze_bytes and record_path_for(target).read_bytes() == record_bytes


# ---------------------------------------------------------------------------------------------
# CUR -> CUR 2.0 migration: the newest export that delivered a month wins
# ---------------------------------------------------------------------------------------------


def test_migration_newest_export_that_delivered_the_month_wins(
    tmp_path: Path, moto_endpoint: str, bucket: str, upload: UploadTree, connector_env: None,
) -> None:
    legacy = spec_for("cur", bucket)
    cur2 = spec_for("cur2", bucket)
    root = tmp_path / "bucket"
    legacy_months = {p: write_payer_month(root, legacy, p) for p in ("2026-08", "2026-09", "2026-10")}
    cur2_months = {p: write_payer_month(root, cur2, p) for p in ("2026-09",)}
    upload(root, bucket)
    # Legacy until 2026-10, CUR 2.0 from 2026-09: both cover 2026-09 and 2026-10; only legacy delivered 10.
    payer = make_payer(
        export_entry(legacy, bucket, moto_endpoint, until="2026-10"),
        export_entry(cur2, bucket, moto_endpoint, **{"from": "2026-09"}),
    )
    source = AwsPayerSource(payer)
    assert source.billing_periods() == ["2026-08", "2026-09", "2026-10"]

    expected = {
        "2026-08": ("cur", legacy, legacy_months["2026-08"], True),  # before the cutover
        "2026-09": ("cur2", cur2, cur2_months["2026-09"], False),  # both delivered: CUR 2.0 wins
        "2026-10": ("cur", legacy, legacy_months["2026-10"], True),  # only legacy has it: legacy
    }
    for period, (fmt, spec, month, exact) in expected.items():
        found = source.current_export_run(period)
        assert found is not None
        assert (found[0].format, found[0].name, found[1].run_id) == (fmt, spec.name, month.run_id), period
        result = ingest(source, tmp_path, period)
        assert result.status == "loaded" and result.record is not None, period
        assert result.export_name == spec.name and result.record.format == fmt
        assert_matches_oracle(result.record, month, exact=exact)
        rows, run_ids, formats = bronze_stats(bronze_path(tmp_path / "bronze", PAYER_KEY, period))
        assert (rows, run_ids, formats) == (result.record.rows, {month.run_id}, {fmt}), period

    # One bronze file per payer and month: the month both exports delivered is not counted twice.
    files = sorted(p.name for p in (tmp_path / "bronze" / "aws" / PAYER_KEY).glob("*.parquet"))
    assert files == ["2026-08.parquet", "2026-09.parquet", "2026-10.parquet"]
    assert source.current_run("2026-11") is None
    assert ingest(source, tmp_path, "2026-11").status == "no_export"


# ---------------------------------------------------------------------------------------------
# Failures: clear ExportErrors, never a silent "nothing delivered"
# ---------------------------------------------------------------------------------------------


def test_missing_bucket_is_an_error_naming_the_bucket(
    tmp_path: Path, moto_endpoint: str, connector_env: None,
) -> None:
    missing = f"costlake-it-absent-{uuid.uuid4().hex[:8]}"
    source = AwsPayerSource(make_payer(export_entry(spec_for("cur2", missing), missing, moto_endpoint)))

    with pytest.raises(ExportNotFoundError) as listing:
        source.billing_periods()
    assert f"s3://{missing}" in str(listing.value) and "bucket not found" in str(listing.value)

    # Ingesting a month of a bucket that does not exist must not read as "AWS has not delivered it yet".
    with pytest.raises(ExportNotFoundError) as loading:
        ingest(source, tmp_path)
    assert f"s3://{missing}" in str(loading.value) and "bucket" in str(loading.value)
    assert not (tmp_path / "bronze").exists()


def _moto_auth(endpoint: str, initial_no_auth_count: str) -> None:
    """moto server's own switch: enforce IAM after N more requests ('0': now, 'inf': never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=initial_no_auth_count.encode(), method="POST",
        headers={"Content-Type": "text/plain"},  # a form content type would hide the body from moto
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@contextmanager
def _auth_enforced(endpoint: str) -> Iterator[None]:
    _moto_auth(endpoint, "0")
    try:
        yield
    finally:
        _moto_auth(endpoint, "inf")


def _list_only_user(endpoint: str, bucket: str) -> tuple[str, str]:
    iam = boto3.session.Session(region_name=REGION).client("iam", endpoint_url=endpoint)
    user = f"costlake-list-only-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="list-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_access_denied_is_an_export_access_error(
    tmp_path: Path, moto_endpoint: str, bucket: str, upload: UploadTree, monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = spec_for("cur2", bucket)
    root = tmp_path / "bucket"
    month = write_payer_month(root, spec, PERIOD)
    upload(root, bucket)
    key_id, secret = _list_only_user(moto_endpoint, bucket)
    monkeypatch.setenv(KEY_VAR, key_id)
    monkeypatch.setenv(SECRET_VAR, secret)
    monkeypatch.setenv("COSTLAKE_IT_UNKNOWN_KEY", "AKIAUNKNOWNKEY000000")
    monkeypatch.setenv("COSTLAKE_IT_UNKNOWN_SECRET", "unknown-secret-value")

    entry = export_entry(spec, bucket, moto_endpoint)
    list_only = AwsPayerSource(make_payer(entry))
    stranger = AwsPayerSource(
        make_payer(entry, key_var="COSTLAKE_IT_UNKNOWN_KEY", secret_var="COSTLAKE_IT_UNKNOWN_SECRET")
    )

    with _auth_enforced(moto_endpoint):
        # Listing is allowed, reading the manifest is not.
        assert list_only.billing_periods() == [PERIOD]
        with pytest.raises(ExportAccessError) as denied:
            ingest(list_only, tmp_path)
        message = str(denied.value)
        assert f"s3://{bucket}/{month.manifest_key}" in message
        assert "access denied" in message and "s3:GetObject" in message
        assert secret not in message

        # Credentials S3 does not know at all.
        with pytest.raises(ExportAccessError) as unknown:
            stranger.billing_periods()
        assert f"s3://{bucket}" in str(unknown.value) and "access denied" in str(unknown.value)
        assert "unknown-secret-value" not in str(unknown.value)
    assert not (tmp_path / "bronze").exists()


@pytest.mark.parametrize("unset", [KEY_VAR, SECRET_VAR])
def test_missing_credential_variable_is_named_and_no_secret_is_echoed(
    tmp_path: Path, moto_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, unset: str,
) -> None:
    values = {KEY_VAR: "AKIAEXAMPLEKEYVALUE01", SECRET_VAR: "wJalrXUtnFEMI-example-secret-value"}
    for var, value in values.items():
        if var == unset:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    source = AwsPayerSource(make_payer(export_entry(spec_for("cur2", bucket), bucket, moto_endpoint)))

    for action in (source.billing_periods, lambda: ingest(source, tmp_path)):
        with pytest.raises(ExportAccessError) as error:
            action()
        message = str(error.value)
        assert unset in message and "not set" in message
        for value in values.values():
            assert value not in message and value not in repr(error.value)
        assert isinstance(error.value, ExportError)
