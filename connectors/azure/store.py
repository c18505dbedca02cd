"""An Azure Blob container as an ObjectStore (connectors/storage.py), so the code that finds export runs
and reads their files is the same for a container and for a local folder laid out like one.

Credentials are resolved from the registry's references here, and nowhere do we echo a secret: Azure
SDK error texts can carry the request URL (with a SAS signature), so messages are built from the error
code and HTTP status only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.errors import ExportAccessError, ExportNotFoundError
from connectors.storage import LocalStore, ObjectInfo, ObjectStore, check_key, download_to
from registry.azure import AzureCredentials, AzureExport, parse_container_url

# Listing page size: Azure's maximum is 5000; tests pass a tiny one to exercise continuation tokens.
DEFAULT_PAGE_SIZE = 5000
_DOWNLOAD_CHUNK = 8 * 1024 * 1024


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ExportAccessError(
            f"environment variable {name} (named in the registry's credentials as {what}) is not set; "
            "export it before running costlake"
        )
    return value


def _connection_string_account(connection_string: str) -> str | None:
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "accountname":
            return value.strip()
    return None


def container_client(export: AzureExport, credentials: AzureCredentials | None) -> Any:
    """A ContainerClient for the export's container from credentials given by reference."""
    from azure.storage.blob import ContainerClient

    account_url, account, container = parse_container_url(export.container)
    creds = credentials or AzureCredentials()
    # Fail fast on an unreachable endpoint instead of the SDK's long default retry schedule.
    options: dict[str, Any] = {"retry_total": 2, "connection_timeout": 20, "read_timeout": 120}
    if creds.connection_string_env:
        connection_string = _env(creds.connection_string_env, "connection_string_env")
        named = _connection_string_account(connection_string)
        if named is not None and named.lower() != account:
            # A connection string for another account would read someone else's container silently.
            raise ExportAccessError(
                f"{export.container}: the connection string in ${creds.connection_string_env} is for storage "
                f"account '{named}', not '{account}'; fix the variable or 'container' in the registry"
            )
        try:
            return ContainerClient.from_connection_string(connection_string, container, **options)
        except ValueError:
            raise ExportAccessError(
                f"${creds.connection_string_env} does not hold a valid storage connection string "
                "(DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;...)"
            ) from None
    if creds.sas_token_env:
        sas = _env(creds.sas_token_env, "sas_token_env").lstrip("?")
        return ContainerClient(account_url, container, credential=sas, **options)
    if creds.tenant_id:
        secret = _env(creds.client_secret_env or "", "client_secret_env")
        try:
            from azure.identity import ClientSecretCredential
        except ImportError:
            raise ExportAccessError(
                "service principal credentials (tenant_id/client_id/client_secret_env) need the "
                "azure-identity package, which this installation lacks; use connection_string_env or "
                "sas_token_env, or install azure-identity"
            ) from None
        credential = ClientSecretCredential(creds.tenant_id, creds.client_id or "", secret)
        return ContainerClient(account_url, container, credential=credential, **options)
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        # No credential library: anonymous access (a public container, or an emulator that allows it).
        return ContainerClient(account_url, container, **options)
    return ContainerClient(account_url, container, credential=DefaultAzureCredential(), **options)


class AzureBlobStore:
    """A blob container through azure-storage-blob, with paginated listing and streamed downloads."""

    def __init__(self, client: Any, *, page_size: int = DEFAULT_PAGE_SIZE):
        self.client = client
        self.page_size = page_size
        # Shown in messages and lineage; never the client's URL, which may carry a SAS token.
        self._uri = f"{client.primary_endpoint.split('?', 1)[0].rstrip('/')}"

    @property
    def uri(self) -> str:
        return self._uri

    def describe(self, key: str) -> str:
        return f"{self._uri}/{key}"

    def _error(self, key: str, operation: str, error: Exception) -> Exception:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        where = self.describe(key) if key else self._uri
        code = getattr(error, "error_code", None) or ""
        status = getattr(error, "status_code", None)
        if isinstance(error, ResourceNotFoundError) or status == 404:
            if str(code) == "ContainerNotFound":
                return ExportNotFoundError(f"{self._uri}: container not found; check 'container' in the registry")
            return ExportNotFoundError(f"{where}: blob not found")
        if isinstance(error, ClientAuthenticationError) or status in (401, 403):
            return ExportAccessError(
                f"{where}: access denied ({code or status}); the credentials need read and list permission on "
                "the container (role 'Storage Blob Data Reader', or a SAS with r and l)"
            )
        if isinstance(error, (ServiceRequestError, ServiceResponseError)):
            return ExportAccessError(f"{where}: cannot reach the storage account ({type(error).__name__}); check the URL and network")
        if isinstance(error, HttpResponseError):
            return ExportAccessError(f"{where}: Azure Blob {operation} failed (HTTP {status} {code})")
        return ExportAccessError(f"{where}: Azure Blob {operation} failed ({type(error).__name__})")

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        from azure.core.exceptions import AzureError

        try:
            pages = self.client.list_blobs(name_starts_with=prefix or None, results_per_page=self.page_size).by_page()
            for page in pages:
                for blob in page:
                    yield ObjectInfo(blob.name, int(blob.size), blob.last_modified, (blob.etag or "").strip('"'))
        except AzureError as error:
            raise self._error(prefix, "list", error) from None

    def list_prefixes(self, prefix: str) -> list[str]:
        from azure.core.exceptions import AzureError

        base = prefix.rstrip("/") + "/" if prefix else ""
        found: list[str] = []
        try:
            pages = self.client.walk_blobs(name_starts_with=base or None, delimiter="/", results_per_page=self.page_size)
            for page in pages.by_page():
                found.extend(item.name for item in page if item.name.endswith("/"))
        except AzureError as error:
            raise self._error(base, "list", error) from None
        if not found:
            self._check_container()
        return sorted(found)

    def _check_container(self) -> None:
        """A missing container must fail, not read as 'no export delivered yet'."""
        from azure.core.exceptions import AzureError

        try:
            exists = self.client.exists()
        except AzureError as error:
            raise self._error("", "get container properties", error) from None
        if not exists:
            raise ExportNotFoundError(f"{self._uri}: container not found; check 'container' in the registry")

    def read_bytes(self, key: str) -> bytes:
        from azure.core.exceptions import AzureError

        check_key(key, self.describe(key))
        try:
            return self.client.download_blob(key).readall()
        except AzureError as error:
            raise self._error(key, "download", error) from None

    def head(self, key: str) -> ObjectInfo | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        check_key(key, self.describe(key))
        try:
            props = self.client.get_blob_client(key).get_blob_properties()
        except ResourceNotFoundError:
            self._check_container()
            return None
        except AzureError as error:
            raise self._error(key, "get properties", error) from None
        return ObjectInfo(key, int(props.size), props.last_modified, (props.etag or "").strip('"'))

    def local_path(self, key: str, scratch: Path) -> Path:
        from azure.core.exceptions import AzureError

        check_key(key, self.describe(key))
        target = scratch / key
        try:
            with download_to(target) as out:
                for chunk in self.client.download_blob(key, max_concurrency=2).chunks():
                    out.write(chunk)
        except AzureError as error:
            raise self._error(key, "download", error) from None
        return target


def store_for(export: AzureExport, credentials: AzureCredentials | None, *, page_size: int = DEFAULT_PAGE_SIZE) -> ObjectStore:
    if export.is_local:
        return LocalStore(export.container)
    return AzureBlobStore(container_client(export, credentials), page_size=page_size)


__all__ = ["AzureBlobStore", "container_client", "store_for"]
