"""Where a tenancy's reports are: Object Storage through the oci SDK, or a local folder laid out like the bucket.

Both stores answer the same paged listing call Object Storage has (names in lexicographic order,
``start`` = first name of the next page, ``limit`` per page), so the paging loop in ``list_objects`` is
one code path for the real service, the local test server and a local folder.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from connectors.errors import ExportAccessError, ExportFormatError, ExportNotFoundError
from connectors.storage import LocalStore, ObjectInfo, check_key, download_to
from registry.oci import OciAccount

PAGE_LIMIT = 1000  # Object Storage returns at most 1000 names per ListObjects call


class ReportStore(Protocol):
    @property
    def uri(self) -> str: ...

    def describe(self, key: str) -> str: ...

    def list_page(self, prefix: str, start: str | None, limit: int) -> tuple[list[ObjectInfo], str | None]:
        """Objects whose names start with ``prefix``, from ``start`` on, and the first name of the next page."""
        ...

    def fetch(self, key: str, scratch: Path) -> Path:
        """A local file with the object's bytes (the file itself for a folder, a download otherwise)."""
        ...


def list_objects(store: ReportStore, prefix: str, page_limit: int = PAGE_LIMIT) -> list[ObjectInfo]:
    """Every object under ``prefix``, following Object Storage's pagination (nextStartWith)."""
    found: list[ObjectInfo] = []
    start: str | None = None
    seen_starts: set[str] = set()
    while True:
        page, next_start = store.list_page(prefix, start, page_limit)
        found.extend(page)
        if not next_start:
            break
        if next_start in seen_starts:
            # A server that hands back the same page marker forever would loop us for ever.
            raise ExportAccessError(f"{store.describe(prefix)}: listing does not advance (nextStartWith {next_start!r})")
        seen_starts.add(next_start)
        start = next_start
    for info in found:
        check_key(info.key, store.describe(info.key))
    return sorted(found, key=lambda info: info.key)


class LocalReportStore(LocalStore):
    """A local folder standing for the reports bucket: object 'reports/cost-csv/x.csv.gz' is '<root>/reports/cost-csv/x.csv.gz'.

    Listing is LocalStore's (the same walk the AWS and Azure folders use); this adds Object Storage's paged call
    on top of it."""

    def list_page(self, prefix: str, start: str | None, limit: int) -> tuple[list[ObjectInfo], str | None]:
        # A missing folder must fail like a missing bucket, not read as "no reports delivered yet".
        self._check_root()
        found = sorted(self.list(prefix), key=lambda info: info.key)
        if start is not None:
            found = [info for info in found if info.key >= start]
        page, rest = found[:limit], found[limit:]
        return page, (rest[0].key if rest else None)

    def fetch(self, key: str, scratch: Path) -> Path:
        try:
            return self.local_path(key, scratch)
        except ExportNotFoundError as error:
            raise ExportNotFoundError(f"{error} (it was listed a moment ago); re-run") from None


class OciObjectStore:
    """The tenancy's reports bucket through ``oci.object_storage.ObjectStorageClient``."""

    def __init__(self, client: Any, namespace: str, bucket: str):
        self.client = client
        self.namespace = namespace
        self.bucket = bucket

    @property
    def uri(self) -> str:
        return f"oci://{self.namespace}/{self.bucket}"

    def describe(self, key: str) -> str:
        return f"oci://{self.namespace}/{self.bucket}/{key}"

    def _call(self, key: str, operation: str, **kwargs: Any) -> Any:
        import oci

        try:
            return getattr(self.client, operation)(self.namespace, self.bucket, **kwargs)
        except oci.exceptions.ServiceError as error:
            where = self.describe(key)
            code = f"{error.status} {error.code}"
            if error.status == 404 and error.code == "ObjectNotFound":
                raise ExportNotFoundError(f"{where}: object not found ({code}); it was listed a moment ago: re-run") from None
            if error.status == 404:
                raise ExportNotFoundError(
                    f"{self.uri}: bucket not found or not authorized ({code}). The reports bucket is named after "
                    "tenancy_ocid in the 'bling' namespace; the user needs the policy 'define tenancy usage-report "
                    "as <Oracle's tenancy OCID>' + 'endorse group <group> to read objects in tenancy usage-report'"
                ) from None
            if error.status in (401, 403):
                raise ExportAccessError(
                    f"{where}: access denied ({code}); check credentials.user_ocid, fingerprint and key_file "
                    "(the fingerprint must be that of the API key uploaded for that user) and the usage-report policy"
                ) from None
            raise ExportAccessError(f"{where}: Object Storage {operation} failed ({code}): {error.message}") from None
        except (oci.exceptions.RequestException, oci.exceptions.ConnectTimeout, OSError) as error:
            raise ExportAccessError(f"{self.describe(key)}: cannot reach Object Storage: {type(error).__name__}") from None

    def list_page(self, prefix: str, start: str | None, limit: int) -> tuple[list[ObjectInfo], str | None]:
        kwargs: dict[str, Any] = {"prefix": prefix, "limit": limit, "fields": "name,size,etag,timeCreated"}
        if start:
            kwargs["start"] = start
        data = self._call(prefix, "list_objects", **kwargs).data
        infos = [
            ObjectInfo(
                item.name,
                int(item.size or 0),
                item.time_created or datetime.fromtimestamp(0, UTC),
                (item.etag or None),
            )
            for item in data.objects or []
        ]
        return infos, (data.next_start_with or None)

    def fetch(self, key: str, scratch: Path) -> Path:
        check_key(key, self.describe(key))
        target = scratch / key
        try:
            with download_to(target) as out:
                response = self._call(key, "get_object", object_name=key)
                expected = response.headers.get("content-length")
                written = 0
                for chunk in response.data.raw.stream(8 * 1024 * 1024, decode_content=False):
                    out.write(chunk)
                    written += len(chunk)
                if expected is not None and int(expected) != written:
                    raise ExportFormatError(
                        f"{self.describe(key)}: download incomplete ({written} of {expected} bytes); re-run. "
                        "The last good data is kept."
                    )
        except (ExportFormatError, ExportAccessError, ExportNotFoundError):
            raise
        except Exception as error:  # urllib3/requests errors of a cut transfer share no base class
            raise ExportAccessError(
                f"{self.describe(key)}: download failed ({type(error).__name__}); re-run. The last good data is kept."
            ) from None
        return target


def object_storage_client(account: OciAccount, *, retry: bool = True) -> Any:
    """An ObjectStorageClient signed with the registry's API key (all by reference). Errors never echo secrets."""
    import oci

    creds = account.credentials
    if creds is None:
        raise ExportAccessError(f"{account.key}: no credentials in the registry to reach Object Storage")
    key_file = Path(creds.key_file)
    if not key_file.is_file():
        raise ExportAccessError(
            f"{account.key}: credentials.key_file {key_file}: file not found. Point key_file at the PEM private key "
            "of the API key whose fingerprint is registered (it never goes in the registry itself)."
        )
    if not os.access(key_file, os.R_OK):
        raise ExportAccessError(f"{account.key}: credentials.key_file {key_file}: not readable by costlake")
    pass_phrase = None
    if creds.pass_phrase_env:
        pass_phrase = os.environ.get(creds.pass_phrase_env)
        if not pass_phrase:
            raise ExportAccessError(
                f"{account.key}: environment variable {creds.pass_phrase_env} (credentials.pass_phrase_env) is not set; "
                "export the key's pass phrase there"
            )
    config: dict[str, Any] = {
        "user": creds.user_ocid,
        "fingerprint": creds.fingerprint,
        "key_file": str(key_file),
        "tenancy": account.tenancy_ocid,
        "region": account.region or "us-ashburn-1",
    }
    if pass_phrase:
        config["pass_phrase"] = pass_phrase
    kwargs: dict[str, Any] = {"timeout": (10, 300)}
    if account.endpoint:
        kwargs["service_endpoint"] = account.endpoint
    if not retry:
        kwargs["retry_strategy"] = oci.retry.NoneRetryStrategy()
    try:
        oci.config.validate_config(config)
        return oci.object_storage.ObjectStorageClient(config, **kwargs)
    except (oci.exceptions.InvalidPrivateKey, oci.exceptions.MissingPrivateKeyPassphrase, oci.exceptions.InvalidKeyFilePath):
        raise ExportAccessError(
            f"{account.key}: credentials.key_file {key_file}: not a usable PEM private key, or it is encrypted and "
            "the pass phrase (credentials.pass_phrase_env) is missing or wrong"
        ) from None
    except (oci.exceptions.InvalidConfig, ValueError) as error:
        # InvalidConfig lists the offending config KEYS (user, fingerprint, ...), never their values.
        raise ExportAccessError(f"{account.key}: invalid OCI credentials in the registry: {type(error).__name__}") from None


def store_for(account: OciAccount, *, retry: bool = True) -> ReportStore:
    if account.bucket is not None:
        return LocalReportStore(account.bucket)
    return OciObjectStore(object_storage_client(account, retry=retry), account.namespace, account.tenancy_ocid)

