"""One AWS payer as a billing source: which export holds a month, and loading that month to bronze.

CUR -> CUR 2.0 migration: a payer may list several exports with ``from``/``until`` windows. For a
month that more than one export covers, the NEWEST export (latest ``from``) that has delivered the
month wins; an older export is read only when the newer one has no manifest for it. So a month is
never counted twice (one bronze file per payer and month) and never lost during a cutover.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from connectors.aws.manifest import ExportRun, list_billing_periods, read_run
from connectors.aws.reader import load_run
from connectors.errors import ExportAccessError
from connectors.records import IngestOutcome, LoadRecord, RestatementGuard, read_record
from connectors.storage import LocalStore, ObjectStore, S3Store
from registry.model import AwsAccount, AwsCredentials, AwsExport


def s3_client(export: AwsExport, credentials: AwsCredentials | None) -> object:
    """A boto3 S3 client from credentials given by reference; nothing set -> the default chain."""
    import boto3

    creds = credentials or AwsCredentials()
    session_kwargs: dict[str, str] = {}
    if creds.profile:
        session_kwargs["profile_name"] = creds.profile
    if creds.access_key_id_env:
        for var in (creds.access_key_id_env, creds.secret_access_key_env):
            if not os.environ.get(var or ""):
                raise ExportAccessError(
                    f"environment variable {var} (named in the registry's credentials) is not set; "
                    "export it before running costlake"
                )
        session_kwargs["aws_access_key_id"] = os.environ[creds.access_key_id_env]
        session_kwargs["aws_secret_access_key"] = os.environ[creds.secret_access_key_env or ""]
        if creds.session_token_env and os.environ.get(creds.session_token_env):
            session_kwargs["aws_session_token"] = os.environ[creds.session_token_env]
    session = boto3.Session(**session_kwargs)
    client_kwargs: dict[str, str] = {}
    if export.region:
        client_kwargs["region_name"] = export.region
    if export.endpoint_url:
        client_kwargs["endpoint_url"] = export.endpoint_url
    if creds.role_arn:
        assume_kwargs = {"RoleArn": creds.role_arn, "RoleSessionName": "costlake"}
        if creds.external_id_env and os.environ.get(creds.external_id_env):
            assume_kwargs["ExternalId"] = os.environ[creds.external_id_env]
        assumed = session.client("sts", **client_kwargs).assume_role(**assume_kwargs)["Credentials"]
        session = boto3.Session(
            aws_access_key_id=assumed["AccessKeyId"],
            aws_secret_access_key=assumed["SecretAccessKey"],
            aws_session_token=assumed["SessionToken"],
        )
    return session.client("s3", **client_kwargs)


def store_for(export: AwsExport, credentials: AwsCredentials | None) -> ObjectStore:
    if export.is_local:
        return LocalStore(export.bucket)
    return S3Store(export.bucket.removeprefix("s3://"), s3_client(export, credentials))


@dataclass(frozen=True)
class AwsIngestOutcome(IngestOutcome):
    run: ExportRun | None = None

    @property
    def record(self) -> LoadRecord | None:
        """AWS writes one bronze file (one record) per payer and month."""
        return self.records[0] if self.records else None


def bronze_path(bronze_root: Path, payer_key: str, billing_period: str) -> Path:
    return bronze_root / "aws" / payer_key / f"{billing_period}.parquet"


class AwsPayerSource:
    """A registered AWS payer and its export(s)."""

    def __init__(self, payer: AwsAccount, stores: dict[str, ObjectStore] | None = None):
        if payer.role != "payer":
            raise ValueError(f"{payer.key} is a linked account; only payers own exports")
        self.payer = payer
        self._stores = stores or {}

    def store(self, export: AwsExport) -> ObjectStore:
        key = f"{export.bucket}|{export.endpoint_url}"
        if key not in self._stores:
            self._stores[key] = store_for(export, self.payer.credentials)
        return self._stores[key]

    def _newest_first(self) -> list[AwsExport]:
        return sorted(self.payer.all_exports, key=lambda e: e.from_month or "", reverse=True)

    def billing_periods(self) -> list[str]:
        """Every month some export of this payer has a manifest for (within its from/until window)."""
        months: set[str] = set()
        for export in self.payer.all_exports:
            for month in list_billing_periods(self.store(export), export.format, export.prefix, export.name):
                if export.covers(month):
                    months.add(month)
        return sorted(months)

    def current_run(self, billing_period: str) -> tuple[str, str] | None:
        """(export name, assemblyId/executionId) of the run that holds ``billing_period``."""
        found = self.current_export_run(billing_period)
        return (found[0].name, found[1].run_id) if found else None

    def current_export_run(self, billing_period: str) -> tuple[AwsExport, ExportRun] | None:
        """The run that holds ``billing_period``, by the migration rule in the module docstring."""
        for export in self._newest_first():
            if not export.covers(billing_period):
                continue
            run = read_run(self.store(export), export.format, export.prefix, export.name, billing_period)
            if run is not None:
                return export, run
        return None

    def ingest(
        self, billing_period: str, bronze_root: Path, scratch: Path, *, force: bool = False,
        memory_limit: str = "2GB", threads: int = 2, guard: RestatementGuard | None = None,
    ) -> AwsIngestOutcome:
        found = self.current_export_run(billing_period)
        if found is None:
            return AwsIngestOutcome("no_export", billing_period, [])
        export, run = found
        target = bronze_path(bronze_root, self.payer.key, billing_period)
        previous = read_record(target)
        if not force and previous is not None and previous.run_id == run.run_id and previous.export_name == export.name:
            # Same assembly/execution as last time: AWS did not rewrite the month, nothing to do.
            return AwsIngestOutcome("unchanged", billing_period, [previous], run.run_id, export.name, run)
        # A folder of its own per load: two runs of the same month must not delete each other's downloads.
        work = scratch / self.payer.key / f"{billing_period}-{uuid.uuid4().hex[:12]}"
        try:
            record = load_run(
                self.store(export), run, payer_key=self.payer.key, export_name=export.name, bronze_path=target,
                scratch=work, memory_limit=memory_limit, threads=threads, guard=guard,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return AwsIngestOutcome("loaded", billing_period, [record], run.run_id, export.name, run)

    def records(self, bronze_root: Path) -> list[LoadRecord]:
        folder = bronze_root / "aws" / self.payer.key
        found = (read_record(path) for path in sorted(folder.glob("*.parquet"))) if folder.exists() else iter(())
        return [record for record in found if record is not None]
