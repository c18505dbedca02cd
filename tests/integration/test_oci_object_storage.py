"""The OCI connector end to end against Object Storage's REST API: the real oci SDK signs its requests
with a throwaway RSA key (made here, never committed) and talks HTTP to a local server
(tests/integration/oci_server.py) that verifies the signature and serves a generated reports bucket.
Expected totals come from the generator's Decimal oracle."""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest

from connectors.errors import ExportAccessError, ExportError, ExportNotFoundError, UnsafeKeyError
from connectors.oci.columns import COST
from connectors.oci.source import OciTenancySource, bronze_path
from connectors.records import record_path_for
from demo.oci.generator import (
    GeneratedObject,
    GeneratedTenancy,
    default_spec,
    generate_tenancy,
    write_objects,
)
from registry.oci import OciAccount

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oci_server import ApiKey, ServerState, make_api_key, object_storage_server

pytestmark = pytest.mark.integration

USER = "ocid1.user.oc1..aaaaaaaacostlaketestuser"
KEY = "oci-it"
PASS_VAR = "COSTLAKE_IT_OCI_PASS_PHRASE"


@dataclass
class Tenancy:
    generated: GeneratedTenancy
    bucket: Path
    endpoint: str
    state: ServerState
    api_key: ApiKey
    tmp: Path

    def account(self, **changes: object) -> OciAccount:
        entry: dict[str, object] = {
            "provider": "oci", "key": KEY, "tenancy_ocid": self.generated.spec.tenancy_ocid, "region": "us-ashburn-1",
            "endpoint": self.endpoint,
            "credentials": {"user_ocid": USER, "fingerprint": self.api_key.fingerprint, "key_file": str(self.api_key.path)},
        }
        entry.update(changes)
        return OciAccount.model_validate(entry)

    def source(self, page_limit: int = 4, **changes: object) -> OciTenancySource:
        return OciTenancySource(self.account(**changes), page_limit=page_limit, retry=False)

    def ingest(self, month: str, **changes: object):
        return self.source(**changes).ingest(month, self.tmp / "bronze", self.tmp / "scratch")


@pytest.fixture(scope="module")
def generated() -> GeneratedTenancy:
    return generate_tenancy(default_spec())


@pytest.fixture(scope="module")
def api_key(tmp_path_factory: pytest.TempPathFactory) -> ApiKey:
    """A throwaway API signing key for this module's tests (generated here, never committed)."""
    return make_api_key(tmp_path_factory.mktemp("oci-key"))


@pytest.fixture
def tenancy(
    tmp_path: Path, generated: GeneratedTenancy, api_key: ApiKey, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tenancy]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    bucket = tmp_path / "bucket"
    write_objects(bucket, generated.objects)
    with object_storage_server("bling", generated.spec.tenancy_ocid, bucket) as (endpoint, state):
        state.public_keys[f"{generated.spec.tenancy_ocid}/{USER}/{api_key.fingerprint}"] = api_key.public_key
        yield Tenancy(generated, bucket, endpoint, state, api_key, tmp_path)


def _totals(records: list, month: str) -> dict[tuple[str, str], tuple[int, int, object]]:
    record = next(r for r in records if r.dataset == "cost" and r.billing_period == month)
    return {(t.sub_account_id, t.currency): (t.rows, t.excluded_rows, t.amounts["cost"]) for t in record.totals}


def test_sdk_lists_with_pagination_and_loads_exact_totals(tenancy: Tenancy) -> None:
    source = tenancy.source(page_limit=4)
    assert source.billing_periods() == ["2026-09", "2026-10"]
    lists = [path for method, path in tenancy.state.requests if method == "GET" and "/o?" in path]
    # 12 cost + 12 usage objects, 4 per page: 3 pages each, the later ones asked for with start=...
    assert len(lists) == 6 and sum("start=" in path for path in lists) == 4
    oracle = tenancy.generated.expected()
    for month in ("2026-09", "2026-10"):
        outcome = tenancy.ingest(month)
        assert outcome.status == "loaded"
        assert _totals(outcome.records, month) == oracle[month]
        record = next(r for r in outcome.records if r.dataset == "cost")
        assert record.manifest == f"oci://bling/{tenancy.generated.spec.tenancy_ocid}/reports/cost-csv/"
    # Every request was signed with the registry's key (the server refuses anything else).
    assert all(method in ("GET", "HEAD") for method, _ in tenancy.state.requests)


def test_rerun_lists_but_downloads_nothing(tenancy: Tenancy) -> None:
    tenancy.ingest("2026-10")
    before = len(tenancy.state.requests)
    outcome = tenancy.ingest("2026-10")
    assert outcome.status == "unchanged"
    after = tenancy.state.requests[before:]
    assert after and all("/o?" in path for _, path in after)  # listings only: no object fetched again


def test_new_object_is_fetched_once_and_appended(tenancy: Tenancy) -> None:
    tenancy.ingest("2026-10")
    last = tenancy.generated.objects[-2]  # the last cost object
    extra = GeneratedObject("reports/cost-csv/0001000000000100.csv.gz", last.data, last.created + timedelta(hours=6), "cost")
    write_objects(tenancy.bucket, [extra])
    before = len(tenancy.state.requests)
    outcome = tenancy.ingest("2026-10")
    assert outcome.new_objects == (extra.key,)
    fetched = [unquote(path) for _, path in tenancy.state.requests[before:] if "/o/" in path]
    assert fetched == [f"/n/bling/b/{tenancy.generated.spec.tenancy_ocid}/o/{extra.key}"]
    # A new object is data Oracle delivered: its lines are counted (here they repeat another object's).
    record = next(r for r in outcome.records if r.dataset == "cost")
    assert extra.key in record.source_files and record.counters["new_objects"] == 1


def test_wrong_key_is_refused_by_the_service(tenancy: Tenancy, tmp_path: Path) -> None:
    other = make_api_key(tmp_path, "other.pem")
    with pytest.raises(ExportAccessError) as error:
        tenancy.ingest("2026-10", credentials={"user_ocid": USER, "fingerprint": other.fingerprint, "key_file": str(other.path)})
    assert "401 NotAuthenticated" in str(error.value) and "fingerprint" in str(error.value)


def test_missing_key_file_is_named_without_secrets(tenancy: Tenancy, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "oci_api_key.pem"
    with pytest.raises(ExportAccessError) as error:
        tenancy.ingest("2026-10", credentials={"user_ocid": USER, "fingerprint": tenancy.api_key.fingerprint,
                                               "key_file": str(missing)})
    assert f"credentials.key_file {missing}: file not found" in str(error.value)
    assert not tenancy.state.requests  # nothing was sent


def test_wrong_pass_phrase_is_not_echoed(tenancy: Tenancy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(tenancy.api_key.path.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                                serialization.BestAvailableEncryption(b"right-phrase-123")))
    monkeypatch.setenv(PASS_VAR, "wrong-phrase-456")
    with pytest.raises(ExportAccessError) as error:
        tenancy.ingest("2026-10", credentials={"user_ocid": USER, "fingerprint": tenancy.api_key.fingerprint,
                                               "key_file": str(encrypted), "pass_phrase_env": PASS_VAR})
    assert "pass phrase" in str(error.value) and "wrong-phrase-456" not in str(error.value)
    monkeypatch.setenv(PASS_VAR, "right-phrase-123")
    outcome = tenancy.ingest("2026-10", credentials={"user_ocid": USER, "fingerprint": tenancy.api_key.fingerprint,
                                                     "key_file": str(encrypted), "pass_phrase_env": PASS_VAR})
    assert outcome.status == "loaded"


def test_unknown_tenancy_bucket_is_not_found(tenancy: Tenancy) -> None:
    other = "ocid1.tenancy.oc1..aaaaaaaanotservedhere"
    tenancy.state.public_keys[f"{other}/{USER}/{tenancy.api_key.fingerprint}"] = tenancy.api_key.public_key
    with pytest.raises(ExportNotFoundError) as error:
        tenancy.ingest("2026-10", tenancy_ocid=other)
    assert f"oci://bling/{other}: bucket not found" in str(error.value) and "usage-report" in str(error.value)


def test_object_name_with_dotdot_is_refused(tenancy: Tenancy) -> None:
    # Object Storage allows any name; one with '..' would escape the scratch folder once downloaded.
    hostile = "reports/cost-csv/../../etc/passwd.csv.gz"
    tenancy.state.extra_names.append(hostile)
    with pytest.raises(UnsafeKeyError) as error:
        tenancy.ingest("2026-10")
    assert hostile in str(error.value) and "'..'" in str(error.value)
    assert not any("/o/" in path for _, path in tenancy.state.requests)  # refused before any download


def test_download_cut_short_keeps_the_last_good_month(tenancy: Tenancy) -> None:
    tenancy.ingest("2026-10")
    bronze = bronze_path(tenancy.tmp / "bronze", COST, KEY, "2026-10")
    before = (bronze.read_bytes(), record_path_for(bronze).read_bytes())
    last = tenancy.generated.objects[-2]
    extra = GeneratedObject("reports/cost-csv/0001000000000200.csv.gz", last.data, last.created + timedelta(hours=6), "cost")
    write_objects(tenancy.bucket, [extra])
    tenancy.state.truncate.add(extra.key)
    with pytest.raises(ExportError) as error:
        tenancy.ingest("2026-10")
    assert extra.key in str(error.value) and "re-run" in str(error.value)
    assert (bronze.read_bytes(), record_path_for(bronze).read_bytes()) == before


def test_truncated_gzip_object_is_refused(tenancy: Tenancy) -> None:
    tenancy.ingest("2026-10")
    bronze = bronze_path(tenancy.tmp / "bronze", COST, KEY, "2026-10")
    before = bronze.read_bytes()
    last = tenancy.generated.objects[-2]
    cut = gzip.compress(gzip.decompress(last.data))[: len(last.data) // 2]
    write_objects(tenancy.bucket, [GeneratedObject("reports/cost-csv/0001000000000300.csv.gz", cut,
                                                   last.created + timedelta(hours=6), "cost")])
    with pytest.raises(ExportError) as error:
        tenancy.ingest("2026-10")
    assert "oci://bling/" in str(error.value) and "0001000000000300.csv.gz" in str(error.value)
    assert "truncated" in str(error.value)
    assert bronze.read_bytes() == before
