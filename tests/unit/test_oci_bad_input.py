"""Bad OCI reports on a local folder laid out like the bucket: each fails with an ExportError naming the
object (and row/column where there is one) and saying what to do, and the last good bronze file and its
load record survive byte for byte."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.errors import ExportFormatError, RestatementShrinkError, UnsafeKeyError
from connectors.limits import CompressionBombError
from connectors.oci.columns import COST
from connectors.oci.source import OciTenancySource, bronze_path, index_path
from connectors.records import RestatementGuard, record_path_for
from demo.oci.generator import (
    GeneratedObject,
    GeneratedTenancy,
    default_spec,
    generate_tenancy,
    write_objects,
)
from registry.oci import OciAccount

KEY = "oci-bad"
MONTH = "2026-10"


class Setup:
    def __init__(self, tmp: Path, generated: GeneratedTenancy, **fields: object):
        self.tmp = tmp
        self.bucket = tmp / "bucket"
        self.generated = generated
        self.account = OciAccount.model_validate(
            {"provider": "oci", "key": KEY, "tenancy_ocid": generated.spec.tenancy_ocid, "bucket": str(self.bucket),
             "reports": ["cost"], **fields}
        )
        self.source = OciTenancySource(self.account)
        write_objects(self.bucket, [o for o in generated.objects if o.dataset == "cost"])
        outcome = self.source.ingest(MONTH, tmp / "bronze", tmp / "scratch")
        assert outcome.status == "loaded"
        self.bronze = bronze_path(tmp / "bronze", COST, KEY, MONTH)
        self.before = (self.bronze.read_bytes(), record_path_for(self.bronze).read_bytes())

    def add(self, data: bytes, name: str = "reports/cost-csv/0001000000099999.csv.gz") -> str:
        last = self.generated.objects[-1]
        write_objects(self.bucket, [GeneratedObject(name, data, last.created + timedelta(hours=6), "cost")])
        return name

    def ingest(self) -> None:
        self.source.ingest(MONTH, self.tmp / "bronze", self.tmp / "scratch")

    def assert_last_good_kept(self) -> None:
        assert (self.bronze.read_bytes(), record_path_for(self.bronze).read_bytes()) == self.before
        assert not list(self.bronze.parent.glob(".tmp-*"))


@pytest.fixture(scope="module")
def generated() -> GeneratedTenancy:
    return generate_tenancy(default_spec(usage=False))


def _csv(generated: GeneratedTenancy) -> str:
    last_cost = [o for o in generated.objects if o.dataset == "cost"][-1]
    return gzip.decompress(last_cost.data).decode()


def test_truncated_gzip(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    whole = gzip.compress(_csv(generated).encode())
    name = setup.add(whole[: len(whole) // 2])
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    message = str(error.value)
    assert name in message and "truncated" in message and "last good data is kept" in message
    setup.assert_last_good_kept()


def test_header_without_my_cost(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    text = _csv(generated).replace("cost/myCost,", "cost/someOtherCost,", 1)
    name = setup.add(gzip.compress(text.encode()))
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    message = str(error.value)
    assert name in message and "cost/myCost" in message and "required column" in message
    setup.assert_last_good_kept()


def test_correction_of_an_unknown_line_fails_unless_kept(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    lines = _csv(generated).splitlines()
    fields = lines[1].split(",")
    fields[0], fields[23], fields[24] = "zz-correction", "true", "no-such-line"
    name = setup.add(gzip.compress("\n".join([lines[0], ",".join(fields)]).encode() + b"\n"))
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    message = str(error.value)
    assert name in message and "row 1 (line 2)" in message and "'no-such-line'" in message
    assert "unmatched_corrections: keep" in message
    setup.assert_last_good_kept()

    # The documented way out: count such a correction as it is, and say so in the record.
    kept = OciTenancySource(setup.account.model_copy(update={"unmatched_corrections": "keep"}))
    outcome = kept.ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch")
    [record] = outcome.records
    assert record.counters["unmatched_corrections"] == 1 and outcome.new_objects == (name,)


def test_unreadable_cost_value_is_located(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    lines = _csv(generated).splitlines()
    fields = lines[3].split(",")
    fields[17] = "twelve"
    lines[3] = ",".join(fields)
    name = setup.add(gzip.compress("\n".join(lines).encode() + b"\n"))
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    message = str(error.value)
    assert f"{name}: row 3 (line 4): column cost/myCost: cannot read 'twelve' as a number" in message
    setup.assert_last_good_kept()


def test_row_without_interval_start(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    lines = _csv(generated).splitlines()
    fields = lines[2].split(",")
    fields[2] = ""
    lines[2] = ",".join(fields)
    name = setup.add(gzip.compress("\n".join(lines).encode() + b"\n"))
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    assert name in str(error.value) and "row 2 (line 3)" in str(error.value) and "intervalUsageStart" in str(error.value)
    setup.assert_last_good_kept()


def test_rewritten_object_is_refused(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    key = generated.keys("cost")[-1]
    lines = _csv(generated).splitlines()
    (setup.bucket / key).write_bytes(gzip.compress("\n".join(lines[:-1]).encode()))  # one line less, same name
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    assert key in str(error.value) and "never rewrites" in str(error.value)
    setup.assert_last_good_kept()


def test_header_only_report_is_an_empty_report(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    header = _csv(generated).splitlines()[0]
    setup.add(gzip.compress((header + "\n").encode()))
    setup.ingest()  # valid: no rows, nothing changes
    setup.assert_last_good_kept()


# --- hostile inputs: compression bombs, links out of the folder, files that are not reports ----------------

PASSWD = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def test_gzip_bomb_is_refused_as_a_bomb(tmp_path: Path, generated: GeneratedTenancy, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = Setup(tmp_path, generated)
    monkeypatch.setenv("COSTLAKE_MAX_EXPANDED_GB", str(1 / 1024))  # 1 MiB keeps the test fast
    name = setup.add(gzip.compress(b"0" * 20_000_000))
    with pytest.raises(CompressionBombError) as error:
        setup.ingest()
    message = str(error.value)
    assert name in message and "expands beyond 1.0 MiB: refusing a possible compression bomb" in message
    assert "truncated" not in message
    setup.assert_last_good_kept()


def test_a_report_linked_out_of_the_bucket_folder_is_refused_by_name(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    outside = tmp_path / "passwd.csv.gz"
    outside.write_bytes(gzip.compress(PASSWD.encode()))
    name = setup.add(b"placeholder")
    link = setup.bucket / name
    link.unlink()
    link.symlink_to(outside)
    with pytest.raises(UnsafeKeyError) as error:
        setup.ingest()
    message = str(error.value)
    assert str(link) in message and "outside the registered folder" in message and "root:x" not in message
    setup.assert_last_good_kept()


def test_a_file_that_is_no_report_is_not_quoted_back(tmp_path: Path, generated: GeneratedTenancy) -> None:
    setup = Setup(tmp_path, generated)
    name = setup.add(gzip.compress(PASSWD.encode()))
    with pytest.raises(ExportFormatError) as error:
        setup.ingest()
    message = str(error.value)
    assert name in message and "not an OCI cost report (no known column in its header)" in message
    assert "root:x" not in message and "/bin/bash" not in message
    setup.assert_last_good_kept()

def test_a_forced_reload_that_shrinks_the_month_is_held_back(tmp_path: Path, generated: GeneratedTenancy) -> None:
    """OCI never rewrites a report, but after someone did (and the object index was deleted to accept it, as
    the error above says), a forced reload replaces the month: it must not shrink it silently."""
    setup = Setup(tmp_path, generated)
    old_rows = json.loads(record_path_for(setup.bronze).read_text())["rows"]
    october = [o.key for o in generated.objects if o.dataset == "cost" and "2026-10" in gzip.decompress(o.data).decode()]
    for key in october[1:]:  # every October object after the first keeps its header and 3 lines
        lines = gzip.decompress((setup.bucket / key).read_bytes()).decode().splitlines()
        (setup.bucket / key).write_bytes(gzip.compress(("\n".join(lines[:4]) + "\n").encode()))
    index_path(tmp_path / "bronze", KEY).unlink()
    with pytest.raises(RestatementShrinkError) as raised:
        setup.source.ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch", force=True)
    message = str(raised.value)
    assert message.startswith(f"{KEY} {MONTH}: the new export is held back as suspicious: cost (")
    assert f"): {old_rows} rows -> " in message and "USD (cost)" in message and "--accept-shrink" in message
    setup.assert_last_good_kept()
    outcome = setup.source.ingest(MONTH, tmp_path / "bronze", tmp_path / "scratch", force=True,
                                  guard=RestatementGuard(accept=True))
    assert outcome.status == "loaded" and 0 < outcome.records[0].rows < old_rows // 2
