"""The AWS export generator writes what AWS writes, and its expected totals are true.

Totals are recomputed here by reading the written files back with DuckDB (as text, summed as
DECIMAL(38,18)) through the manifest, independently of the generator's Decimal oracle.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import zipfile
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from demo.aws import (
    AccountTotals,
    GeneratedMonth,
    LinkedAccount,
    PayerSpec,
    cur2_column_names,
    default_spec,
    legacy_column_names,
    write_bench_cur2_month,
    write_payer_month,
)

PERIOD = "2026-09"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
LINE_ITEM_TYPES = {
    "Usage",
    "DiscountedUsage",
    "RIFee",
    "Fee",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "Tax",
    "Credit",
}


# ---------------------------------------------------------------------------------------------
# Independent reader: manifest -> files -> DuckDB sums
# ---------------------------------------------------------------------------------------------

LEGACY_NAMES = {
    "account": "lineItem/UsageAccountId",
    "type": "lineItem/LineItemType",
    "operation": "lineItem/Operation",
    "entity": "bill/BillingEntity",
    "unblended": "lineItem/UnblendedCost",
    "blended": "lineItem/BlendedCost",
    "net": "lineItem/NetUnblendedCost",
    "sp_eff": "savingsPlan/SavingsPlanEffectiveCost",
    "res_eff": "reservation/EffectiveCost",
    "commit": "savingsPlan/TotalCommitmentToDate",
    "used": "savingsPlan/UsedCommitment",
    "unused_upfront": "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "unused_recurring": "reservation/UnusedRecurringFee",
    "res_arn": "reservation/ReservationARN",
}
CUR2_NAMES = {
    "account": "line_item_usage_account_id",
    "type": "line_item_line_item_type",
    "operation": "line_item_operation",
    "entity": "bill_billing_entity",
    "unblended": "line_item_unblended_cost",
    "blended": "line_item_blended_cost",
    "net": "line_item_net_unblended_cost",
    "sp_eff": "savings_plan_savings_plan_effective_cost",
    "res_eff": "reservation_effective_cost",
    "commit": "savings_plan_total_commitment_to_date",
    "used": "savings_plan_used_commitment",
    "unused_upfront": "reservation_unused_amortized_upfront_fee_for_billing_period",
    "unused_recurring": "reservation_unused_recurring_fee",
    "res_arn": "reservation_reservation_a_r_n",
}
# Legacy CUR in Parquet snake-cases the legacy names; for the columns the totals need they
# coincide with CUR 2.0's (they differ elsewhere: product_region vs product_region_code).
LEGACY_PARQUET_NAMES = {**CUR2_NAMES}


def manifest_files(root: Path, month: GeneratedMonth, bucket: str) -> list[Path]:
    manifest = json.loads((root / month.manifest_key).read_text())
    if "reportKeys" in manifest:
        keys = manifest["reportKeys"]
    else:
        prefix = f"s3://{bucket}/"
        assert all(uri.startswith(prefix) for uri in manifest["dataFiles"])
        keys = [uri[len(prefix) :] for uri in manifest["dataFiles"]]
    return [root / key for key in keys]


def relation_sql(files: list[Path], tmp: Path) -> str:
    paths = []
    for path in files:
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                (member,) = archive.namelist()
                out = tmp / f"unzipped-{path.parent.name}-{member}"
                out.write_bytes(archive.read(member))
                paths.append(out)
        else:
            paths.append(path)
    listing = ", ".join(f"'{p}'" for p in paths)
    if files[0].name.endswith(".parquet"):
        return f"read_parquet([{listing}], hive_partitioning=false)"
    return f"read_csv([{listing}], all_varchar=true, header=true, null_padding=true, delim=',', quote='\"')"


def duckdb_totals(
    relation: str, names: dict[str, str], *, text: bool, has_net: bool
) -> dict[str, AccountTotals]:
    def col(key: str) -> str:
        return f'"{names[key]}"'

    def num(key: str) -> str:
        if text:
            return f"CAST(NULLIF({col(key)}, '') AS DECIMAL(38,18))"
        return f"CAST(CAST({col(key)} AS VARCHAR) AS DECIMAL(38,18))"

    effective = f"""CASE {col("type")}
        WHEN 'SavingsPlanCoveredUsage' THEN {num("sp_eff")}
        WHEN 'DiscountedUsage' THEN {num("res_eff")}
        WHEN 'SavingsPlanRecurringFee' THEN {num("commit")} - {num("used")}
        WHEN 'RIFee' THEN {num("unused_upfront")} + {num("unused_recurring")}
        WHEN 'SavingsPlanNegation' THEN 0
        WHEN 'SavingsPlanUpfrontFee' THEN 0
        ELSE CASE WHEN {col("type")} = 'Fee' AND coalesce({col("res_arn")}, '') <> '' THEN 0
                  ELSE {num("net" if has_net else "unblended")} END
    END"""
    split = f"coalesce({col('operation')}, '') IN ('EKSPod-EC2', 'ECSTask-EC2')"
    sql = f"""
        SELECT {col("account")},
               count(*) FILTER (WHERE NOT {split}),
               coalesce(sum({num("unblended")}) FILTER (WHERE NOT {split}), 0),
               coalesce(sum({num("blended")}) FILTER (WHERE NOT {split}), 0),
               coalesce(sum({effective}) FILTER (WHERE NOT {split}), 0),
               count(*) FILTER (WHERE {split}),
               coalesce(sum({num("unblended")}) FILTER (WHERE {split}), 0)
        FROM {relation} GROUP BY 1 ORDER BY 1"""
    return {row[0]: AccountTotals(*row[1:]) for row in duckdb.sql(sql).fetchall()}


def assert_totals_match(root: Path, spec: PayerSpec, month: GeneratedMonth, tmp: Path) -> None:
    files = manifest_files(root, month, spec.bucket)
    assert [str(f.relative_to(root)) for f in files] == list(month.data_keys)
    relation = relation_sql(files, tmp)
    if spec.fmt == "cur2":
        names, text = CUR2_NAMES, spec.compression != "parquet"
    elif spec.compression == "parquet":
        names, text = LEGACY_PARQUET_NAMES, False
    else:
        names, text = LEGACY_NAMES, True
    recomputed = duckdb_totals(relation, names, text=text, has_net=spec.discounts)
    assert recomputed == month.totals


def legacy_rows(path: Path) -> list[list[str]]:
    raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return list(csv.reader(io.StringIO(raw.decode("utf-8"))))


# ---------------------------------------------------------------------------------------------
# Layouts and manifests
# ---------------------------------------------------------------------------------------------


def test_legacy_gzip_layout_and_manifest(tmp_path: Path) -> None:
    spec = default_spec("cur")
    month = write_payer_month(tmp_path, spec, PERIOD)

    assert month.manifest_key == "exports/acme-cur/20260901-20261001/acme-cur-Manifest.json"
    assert re.fullmatch(UUID_RE, month.run_id)
    assert month.data_keys == (f"exports/acme-cur/20260901-20261001/{month.run_id}/acme-cur-1.csv.gz",)
    manifest = json.loads((tmp_path / month.manifest_key).read_text())
    assert manifest["assemblyId"] == month.run_id
    assert manifest["account"] == spec.payer_account_id
    assert manifest["reportName"] == "acme-cur"
    assert manifest["bucket"] == "acme-billing"
    assert manifest["compression"] == "GZIP"
    assert manifest["contentType"] == "text/csv"
    assert manifest["charset"] == "UTF-8"
    assert manifest["billingPeriod"] == {"start": "20260901T000000.000Z", "end": "20261001T000000.000Z"}
    assert manifest["reportKeys"] == list(month.data_keys)
    assert manifest["additionalArtifactKeys"] == []
    assert len(manifest["reportId"]) == 64
    columns = manifest["columns"]
    assert {"category": "lineItem", "name": "UnblendedCost", "type": "BigDecimal"} in columns
    assert [f"{c['category']}/{c['name']}" for c in columns] == legacy_column_names()

    header = legacy_rows(tmp_path / month.data_keys[0])[0]
    assert header == legacy_column_names()
    for required in ("identity/LineItemId", "bill/BillingEntity", "lineItem/NetUnblendedCost"):
        assert (required in header) == (required != "lineItem/NetUnblendedCost")
    assert "resourceTags/user:team" in header and "product/region" in header


def test_cur2_parquet_layout_and_manifest(tmp_path: Path) -> None:
    spec = default_spec("cur2")
    month = write_payer_month(tmp_path, spec, PERIOD)

    assert month.manifest_key == "exports/acme-cur2/metadata/BILLING_PERIOD=2026-09/acme-cur2-Manifest.json"
    assert month.data_keys == (
        f"exports/acme-cur2/data/BILLING_PERIOD=2026-09/{month.run_id}/acme-cur2-00001.snappy.parquet",
    )
    manifest = json.loads((tmp_path / month.manifest_key).read_text())
    assert manifest["executionId"] == month.run_id
    assert manifest["exportName"] == "acme-cur2"
    assert re.fullmatch(
        rf"arn:aws:bcm-data-exports:us-east-1:111122223333:export/acme-cur2-{UUID_RE}", manifest["exportArn"]
    )
    assert manifest["billingPeriod"] == {
        "start": "2026-09-01T00:00:00.000Z",
        "end": "2026-10-01T00:00:00.000Z",
    }
    assert manifest["dataFiles"] == [f"s3://acme-billing/{key}" for key in month.data_keys]
    assert [c["name"] for c in manifest["columns"]] == cur2_column_names()
    types = {c["name"]: c["type"] for c in manifest["columns"]}
    assert types["line_item_unblended_cost"] == "double"
    assert types["resource_tags"] == "map<string,string>"

    described = duckdb.sql(
        f"DESCRIBE SELECT * FROM read_parquet('{tmp_path / month.data_keys[0]}', hive_partitioning=false)"
    ).fetchall()
    schema = {name: sql_type for name, sql_type, *_ in described}
    assert list(schema) == cur2_column_names()
    for map_column in ("product", "resource_tags", "cost_category", "discount"):
        assert schema[map_column] == "MAP(VARCHAR, VARCHAR)"
    assert schema["line_item_unblended_cost"] == "DOUBLE"
    assert schema["line_item_usage_start_date"] == "TIMESTAMP"
    assert schema["bill_payer_account_id"] == "VARCHAR"
    assert "product_region_code" in schema and "product_region" not in schema
    tag_keys = duckdb.sql(
        f"SELECT DISTINCT unnest(map_keys(resource_tags)) FROM read_parquet('{tmp_path / month.data_keys[0]}')"
    ).fetchall()
    assert {k for (k,) in tag_keys} == {"user_team", "user_env", "aws_created_by"}


def test_empty_prefix_leaves_no_leading_slash(tmp_path: Path) -> None:
    for fmt in ("cur", "cur2"):
        spec = default_spec(fmt, prefix="")
        month = write_payer_month(tmp_path, spec, PERIOD)
        assert month.manifest_key.startswith(f"{spec.name}/")
        assert all(key.startswith(f"{spec.name}/") for key in month.data_keys)
        manifest = json.loads((tmp_path / month.manifest_key).read_text())
        listed = manifest.get("reportKeys") or manifest["dataFiles"]
        assert all("//" not in key.removeprefix("s3://") for key in listed)


def test_files_per_month_split_rows_and_sum_up(tmp_path: Path) -> None:
    spec = default_spec("cur", files_per_month=3)
    month = write_payer_month(tmp_path, spec, PERIOD)
    assert [key.rsplit("/", 1)[1] for key in month.data_keys] == [f"acme-cur-{n}.csv.gz" for n in (1, 2, 3)]
    sizes = [len(legacy_rows(tmp_path / key)) - 1 for key in month.data_keys]
    assert min(sizes) > 0 and sum(sizes) == month.total("rows") + month.total("split_rows")
    assert_totals_match(tmp_path, spec, month, tmp_path)


@pytest.mark.parametrize(("fmt", "compression"), [("cur", "gzip"), ("cur2", "parquet")])
def test_repeat_line_ids_repeats_ids_across_files_never_inside_one(tmp_path: Path, fmt: str, compression: str) -> None:
    spec = default_spec(fmt, compression=compression, files_per_month=3, repeat_line_ids=True)  # type: ignore[arg-type]
    month = write_payer_month(tmp_path, spec, PERIOD)
    id_column = "identity/LineItemId" if fmt == "cur" else "identity_line_item_id"
    interval = "identity/TimeInterval" if fmt == "cur" else "identity_time_interval"
    reader = "read_csv({}, all_varchar = true)" if fmt == "cur" else "read_parquet({})"
    listing = "[" + ", ".join(f"'{tmp_path / key}'" for key in month.data_keys) + "]"
    inside, across = duckdb.execute(
        f"""select max(n) filter (where files = 1), count(*) filter (where files > 1) from (
              select count(*) as n, count(distinct filename) as files from {reader.format(listing + ", filename = true")}
              group by "{id_column}", "{interval}")"""
    ).fetchone()
    assert inside == 1  # an id is never repeated inside one file
    assert across > 100  # but many ids (with their time interval) are repeated across the files
    assert_totals_match(tmp_path, spec, month, tmp_path)
    with pytest.raises(ValueError, match="repeat_line_ids needs files_per_month >= 2"):
        default_spec(fmt, repeat_line_ids=True)


# ---------------------------------------------------------------------------------------------
# Totals: the oracle equals what DuckDB reads back, for every variant
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "compression", "discounts"),
    [
        ("cur", "gzip", False),
        ("cur", "gzip", True),
        ("cur", "zip", False),
        ("cur", "parquet", False),
        ("cur2", "parquet", False),
        ("cur2", "parquet", True),
        ("cur2", "gzip", False),
    ],
)
def test_totals_recomputed_from_files_match_oracle(
    tmp_path: Path, fmt: str, compression: str, discounts: bool
) -> None:
    spec = default_spec(fmt, compression=compression, discounts=discounts, files_per_month=2)  # type: ignore[arg-type]
    month = write_payer_month(tmp_path, spec, PERIOD)
    assert set(month.totals) == {spec.payer_account_id, *(a.account_id for a in spec.linked_accounts)}
    assert month.total("split_rows") > 0
    assert month.total("unblended") != month.total("effective")
    assert month.total("unblended") != month.total("blended")
    assert_totals_match(tmp_path, spec, month, tmp_path)


def test_row_mix_is_a_realistic_month(tmp_path: Path) -> None:
    spec = default_spec("cur2", discounts=True)
    month = write_payer_month(tmp_path, spec, PERIOD)
    relation = f"read_parquet('{tmp_path / month.data_keys[0]}')"
    types = {t for (t,) in duckdb.sql(f"SELECT DISTINCT line_item_line_item_type FROM {relation}").fetchall()}
    assert LINE_ITEM_TYPES | {"EdpDiscount"} <= types
    rows = duckdb.sql(f"""
        SELECT line_item_line_item_type, bill_billing_entity, line_item_operation, line_item_usage_account_id,
               line_item_unblended_cost, reservation_reservation_a_r_n, split_line_item_parent_resource_id
        FROM {relation}""").fetchall()
    payer = spec.payer_account_id
    by_type: dict[str, list[tuple]] = {}
    for row in rows:
        by_type.setdefault(row[0], []).append(row)
    assert {r[3] for r in by_type["RIFee"]} == {payer}
    assert {r[3] for r in by_type["SavingsPlanRecurringFee"]} == {payer}
    # September: the RI's upfront fee (the payer's, with the RI's ARN) and an annual Marketplace subscription
    # paid upfront (no commitment: a purchase AWS does not amortize).
    (fee,) = [r for r in by_type["Fee"] if r[5]]
    assert fee[3] == payer
    (annual,) = [r for r in by_type["Fee"] if not r[5]]
    assert annual[1] == "AWS Marketplace" and annual[4] == Decimal("1188")
    assert len(by_type["Tax"]) == 4  # one per account
    assert all(r[4] < 0 for r in by_type["Credit"])
    # Each covered usage has a negation of the same amount in the same account.
    covered = sorted((r[3], r[4]) for r in by_type["SavingsPlanCoveredUsage"])
    negated = sorted((r[3], -r[4]) for r in by_type["SavingsPlanNegation"])
    assert covered == negated
    assert any(r[1] == "AWS Marketplace" for r in rows)
    split = [r for r in rows if r[2] in ("EKSPod-EC2", "ECSTask-EC2")]
    assert {r[2] for r in split} == {"EKSPod-EC2", "ECSTask-EC2"}
    assert all(r[4] > 0 for r in split)
    # Each split row points at an instance that has its own (full-cost) EC2 usage row.
    instances = duckdb.sql(
        f"SELECT line_item_usage_account_id, line_item_resource_id FROM {relation} "
        "WHERE line_item_operation = 'RunInstances' AND line_item_line_item_type = 'Usage'"
    ).fetchall()
    assert {(r[3], r[6]) for r in split} <= set(instances)
    assert month.total("split_unblended") == sum((Decimal(str(r[4])) for r in split), Decimal(0))


def test_unregistered_accounts_are_just_more_linked_accounts(tmp_path: Path) -> None:
    extra = LinkedAccount("999900001111", "Not Registered")
    spec = default_spec("cur2")
    spec = replace(spec, linked_accounts=(*spec.linked_accounts, extra))
    month = write_payer_month(tmp_path, spec, PERIOD)
    assert month.totals[extra.account_id].rows > 0
    others = [a for a in month.totals if a != extra.account_id]
    assert (
        month.total("unblended")
        == month.total("unblended", others) + month.totals[extra.account_id].unblended
    )
    assert month.total("unblended", ["000000000000"]) == 0


# ---------------------------------------------------------------------------------------------
# Determinism and rewrites
# ---------------------------------------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize(("fmt", "compression"), [("cur", "gzip"), ("cur", "zip"), ("cur2", "parquet")])
def test_same_inputs_same_bytes(tmp_path: Path, fmt: str, compression: str) -> None:
    spec = default_spec(fmt, compression=compression, ragged_rows=3 if fmt == "cur" else 0)  # type: ignore[arg-type]
    first = write_payer_month(tmp_path / "a", spec, PERIOD)
    second = write_payer_month(tmp_path / "b", spec, PERIOD)
    assert first == second
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert not list((tmp_path / "a").rglob("*.tmp"))
    other_seed = write_payer_month(tmp_path / "c", replace(spec, seed=7), PERIOD)
    assert other_seed.run_id != first.run_id and other_seed.totals != first.totals


@pytest.mark.parametrize("fmt", ["cur", "cur2"])
def test_rewrite_keeps_stale_files_and_manifest_points_to_new_run(tmp_path: Path, fmt: str) -> None:
    spec = default_spec(fmt)
    original = write_payer_month(tmp_path, spec, PERIOD)
    rewrite = write_payer_month(tmp_path, spec, PERIOD, revision=1)

    assert rewrite.run_id != original.run_id
    assert rewrite.manifest_key == original.manifest_key
    assert set(rewrite.data_keys).isdisjoint(original.data_keys)
    assert all((tmp_path / key).exists() for key in original.data_keys)  # stale files stay
    files = manifest_files(tmp_path, rewrite, spec.bucket)
    assert [str(f.relative_to(tmp_path)) for f in files] == list(rewrite.data_keys)
    manifest = json.loads((tmp_path / rewrite.manifest_key).read_text())
    assert manifest.get("assemblyId", manifest.get("executionId")) == rewrite.run_id

    # Late usage and a re-rated amount: totals move, and differ per account.
    assert rewrite.total("rows") > original.total("rows")
    assert rewrite.total("unblended") != original.total("unblended")
    assert_totals_match(tmp_path, spec, rewrite, tmp_path)
    # A reader that globbed the folder instead of following the manifest would double count.
    data_dir = (tmp_path / rewrite.data_keys[0]).parent.parent
    assert len([p for p in data_dir.rglob("*") if p.is_file() and "Manifest" not in p.name]) == 2

    again = write_payer_month(tmp_path, spec, PERIOD, revision=2)
    assert again.total("rows") > rewrite.total("rows")
    assert len({original.run_id, rewrite.run_id, again.run_id}) == 3


# ---------------------------------------------------------------------------------------------
# CSV quirks: ragged rows, leading zeros
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zip"])
def test_ragged_rows_have_fewer_fields(tmp_path: Path, compression: str) -> None:
    spec = default_spec("cur", compression=compression, ragged_rows=7)  # type: ignore[arg-type]
    month = write_payer_month(tmp_path, spec, PERIOD)
    path = tmp_path / month.data_keys[0]
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            assert archive.namelist() == ["acme-cur-1.csv"]
            raw = archive.read("acme-cur-1.csv").decode()
        rows = list(csv.reader(io.StringIO(raw)))
    else:
        rows = legacy_rows(path)
    header, data = rows[0], rows[1:]
    short = [row for row in data if len(row) < len(header)]
    assert len(short) == 7
    assert all(len(row) == len(header) for row in data if row not in short)
    assert_totals_match(tmp_path, spec, month, tmp_path)


def test_ragged_rows_rejected_where_aws_does_not_write_them() -> None:
    with pytest.raises(ValueError, match="legacy CSV"):
        default_spec("cur2", compression="gzip", ragged_rows=1)
    with pytest.raises(ValueError, match="zip"):
        default_spec("cur2", compression="zip")
    with pytest.raises(ValueError, match="12 digits"):
        default_spec("cur", payer_account_id="12345")


def test_leading_zero_account_ids_survive(tmp_path: Path) -> None:
    spec = default_spec("cur", payer_account_id="000123456789")
    month = write_payer_month(tmp_path, spec, PERIOD)
    assert {"000123456789", "012345678901"} <= set(month.totals)
    manifest = json.loads((tmp_path / month.manifest_key).read_text())
    assert manifest["account"] == "000123456789"
    raw = gzip.decompress((tmp_path / month.data_keys[0]).read_bytes()).decode()
    assert ",000123456789,2026-09-01T00:00:00Z,2026-10-01T00:00:00Z,012345678901,Usage," in raw
    accounts = duckdb.sql(
        f"""SELECT DISTINCT "bill/PayerAccountId", "lineItem/UsageAccountId"
            FROM read_csv('{tmp_path / month.data_keys[0]}', all_varchar=true)"""
    ).fetchall()
    assert ("000123456789", "012345678901") in accounts

    cur2 = default_spec("cur2", payer_account_id="000123456789")
    cur2_month = write_payer_month(tmp_path, cur2, PERIOD)
    ids = duckdb.sql(
        f"SELECT DISTINCT line_item_usage_account_id FROM read_parquet('{tmp_path / cur2_month.data_keys[0]}')"
    ).fetchall()
    assert {"000123456789", "012345678901"} <= {i for (i,) in ids}


def test_legacy_parquet_uses_snake_case_names(tmp_path: Path) -> None:
    spec = default_spec("cur", compression="parquet")
    month = write_payer_month(tmp_path, spec, PERIOD)
    assert month.data_keys[0].endswith("/acme-cur-1.snappy.parquet")
    manifest = json.loads((tmp_path / month.manifest_key).read_text())
    assert manifest["compression"] == "Parquet"
    names = [
        n for (n, *_) in duckdb.sql(f"DESCRIBE SELECT * FROM '{tmp_path / month.data_keys[0]}'").fetchall()
    ]
    assert names == legacy_column_names(parquet=True)
    for expected in (
        "line_item_unblended_cost",
        "reservation_reservation_a_r_n",
        "product_region",
        "resource_tags_user_team",
        "resource_tags_aws_created_by",
        "savings_plan_savings_plan_a_r_n",
    ):
        assert expected in names


def test_amounts_are_exact_decimals_in_csv_and_doubles_in_parquet(tmp_path: Path) -> None:
    cur = write_payer_month(tmp_path, default_spec("cur"), PERIOD)
    rows = legacy_rows(tmp_path / cur.data_keys[0])
    index = rows[0].index("lineItem/UnblendedCost")
    amounts = [row[index] for row in rows[1:]]
    assert all(re.fullmatch(r"-?\d+(\.\d{1,10})?", a) for a in amounts)
    assert any(len(a.split(".")[-1]) == 10 for a in amounts if "." in a)
    # A double written from each decimal prints back as that decimal.
    assert all(Decimal(repr(float(a))) == Decimal(a) for a in amounts)


# ---------------------------------------------------------------------------------------------
# Bench generator
# ---------------------------------------------------------------------------------------------


def test_bench_month_has_normal_schema_and_true_totals(tmp_path: Path) -> None:
    spec = default_spec("cur2", files_per_month=2)
    normal = write_payer_month(tmp_path / "normal", spec, PERIOD)
    bench = write_bench_cur2_month(tmp_path / "bench", spec, PERIOD, 200_000)

    def schema(path: Path) -> list[tuple[str, str]]:
        rows = duckdb.sql(
            f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning=false)"
        ).fetchall()
        return [(name, sql_type) for name, sql_type, *_ in rows]

    normal_schema = schema(tmp_path / "normal" / normal.data_keys[0])
    assert len(bench.data_keys) == 2
    for key in bench.data_keys:
        assert re.fullmatch(
            rf"exports/acme-cur2/data/BILLING_PERIOD=2026-09/{UUID_RE}/acme-cur2-0000[12]\.snappy\.parquet",
            key,
        )
        assert schema(tmp_path / "bench" / key) == normal_schema

    files = manifest_files(tmp_path / "bench", bench, spec.bucket)
    listing = ", ".join(f"'{f}'" for f in files)
    count, distinct_ids = duckdb.sql(
        f"SELECT count(*), count(DISTINCT identity_line_item_id) FROM read_parquet([{listing}])"
    ).fetchone() or (0, 0)
    assert count == distinct_ids == 200_000
    assert bench.total("rows") + bench.total("split_rows") == 200_000
    assert_totals_match(tmp_path / "bench", spec, bench, tmp_path)


def test_bench_is_deterministic(tmp_path: Path) -> None:
    spec = default_spec("cur2")
    first = write_bench_cur2_month(tmp_path / "a", spec, PERIOD, 30_000)
    second = write_bench_cur2_month(tmp_path / "b", spec, PERIOD, 30_000)
    assert first == second
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    with pytest.raises(ValueError, match="CUR 2.0 Parquet"):
        write_bench_cur2_month(tmp_path, default_spec("cur"), PERIOD, 10)
