"""Google Cloud registry entries: one Cloud Billing account and its BigQuery billing export tables.

Google writes a billing account's costs continuously into tables of a BigQuery dataset in a project the
customer chose: ``gcp_billing_export_v1_<ID>`` (standard) and ``gcp_billing_export_resource_v1_<ID>``
(detailed, a superset with resource columns). ``<ID>`` is the billing account id with '-' replaced by
'_'. A user registers the account, where the dataset is, which tables to read and, by reference only, a
service-account key file (or nothing: the default credential chain).
"""

from __future__ import annotations

import os
import re
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from registry.base import BaseAccount, Strict, check_month, local_folder, looks_like_secret, shown

# XXXXXX-XXXXXX-XXXXXX, hexadecimal (the Cloud console shows it upper case).
BILLING_ACCOUNT_ID = re.compile(r"^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$")
# Project ids: 6-30 lowercase letters, digits, hyphens, starting with a letter; legacy domain-scoped
# projects are written 'example.com:my-project'.
PROJECT_ID = re.compile(r"^(?:[a-z0-9.-]+\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
TABLE = re.compile(r"^[A-Za-z0-9_]{1,1024}$")

GcpTable = Literal["standard", "detailed"]


class GcpCredentials(Strict):
    """How to reach BigQuery, by reference only. Nothing set: the default credential chain
    (GOOGLE_APPLICATION_CREDENTIALS, gcloud application-default login, the metadata server)."""

    service_account_key_file: str | None = None

    @field_validator("service_account_key_file")
    @classmethod
    def _key_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # A path, never the key itself: a JSON key pasted here would be a secret in the registry.
        if "PRIVATE KEY" in value or looks_like_secret(value):
            raise ValueError(
                f"must be the PATH of a service-account key file, not the key itself (got {len(value)} character(s) "
                "that look like a credential, not shown)"
            )
        expanded = os.path.expandvars(os.path.expanduser(value))
        if "$" in expanded:
            raise ValueError(f"refers to an environment variable that is not set: {shown(value)}")
        if not expanded.startswith("/"):
            raise ValueError(
                f"must be an absolute path to the service-account key file (or start with ~ or $VAR); got {shown(value)}"
            )
        return expanded


class GcpAccount(BaseAccount):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=True)

    provider: Literal["gcp"]
    sub_account_kind: ClassVar[str | None] = "project"
    billing_account_id: str
    project_id: str | None = None
    dataset: str | None = None
    location: str | None = None
    tables: list[GcpTable] = Field(default_factory=lambda: ["standard"])
    # Table names when they differ from Google's (a copy, a view); default gcp_billing_export_[resource_]v1_<ID>.
    standard_table: str | None = None
    detailed_table: str | None = None
    source: str | None = None
    credentials: GcpCredentials | None = None
    api_endpoint: str | None = None  # a BigQuery-compatible endpoint (the local emulator in tests)
    from_month: str | None = Field(default=None, alias="from")
    # Rows of an invoice month keep arriving after it ends; partitions up to this many days after the
    # month's end are read for it.
    late_days: int = Field(default=10, ge=1, le=62)
    # An incremental run re-reads rows exported up to this long before the newest export_time already
    # loaded (rows become visible out of order), and merges them without duplicates.
    lookback_hours: int = Field(default=72, ge=0, le=24 * 31)

    @field_validator("billing_account_id", mode="before")
    @classmethod
    def _billing_account_id(cls, value: object) -> str:
        text = str(value).strip()
        # Accept lower case (copied from a URL or a table name) and store Google's upper-case form,
        # so the same account written both ways is still one registry identity.
        upper = text.upper().replace("_", "-")
        if not BILLING_ACCOUNT_ID.match(upper):
            raise ValueError(
                "must be a Cloud Billing account id: three groups of 6 hexadecimal characters joined by '-' "
                f"(e.g. 01A2B3-C4D5E6-F7A8B9, as shown in the Cloud console under Billing); got {shown(text)}"
            )
        return upper

    @field_validator("project_id")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not PROJECT_ID.match(value):
            raise ValueError(
                "must be the id (not the name or number) of the project that hosts the billing dataset: "
                f"6-30 lowercase letters, digits and '-', starting with a letter; got {shown(value)}"
            )
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None) -> str | None:
        if value is not None and not DATASET.match(value):
            raise ValueError(f"must be a BigQuery dataset id (letters, digits, '_'); got {shown(value)}")
        return value

    @field_validator("standard_table", "detailed_table")
    @classmethod
    def _table(cls, value: str | None) -> str | None:
        if value is not None and not TABLE.match(value):
            raise ValueError(f"must be a BigQuery table id (letters, digits, '_'); got {shown(value)}")
        return value

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one of standard, detailed (or leave 'tables' out for [standard])")
        if len(set(value)) != len(value):
            raise ValueError(f"lists a table twice: {value}")
        return sorted(value, key=["standard", "detailed"].index)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return None if value is None else local_folder(value, "file or folder (NDJSON or Parquet)")

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[A-Za-z0-9.\-\[\]:]+(/.*)?$", value):
            raise ValueError(f"must be an http(s):// URL; got {shown(value)}")
        return value.rstrip("/") if value else value

    @field_validator("from_month")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return check_month(value, "from")

    @model_validator(mode="after")
    def _where(self) -> GcpAccount:
        if self.source is None:
            missing = [f for f in ("project_id", "dataset") if getattr(self, f) is None]
            if missing:
                raise ValueError(
                    f"needs {' and '.join(missing)} (where the BigQuery billing export lives), or 'source:' "
                    "(a local NDJSON/Parquet copy of the export)"
                )
        elif self.api_endpoint is not None:
            raise ValueError("'api_endpoint' is for BigQuery; a 'source:' entry reads local files")
        if "standard" not in self.tables and self.standard_table is not None:
            raise ValueError("'standard_table' is set but 'tables' does not list standard")
        if "detailed" not in self.tables and self.detailed_table is not None:
            raise ValueError("'detailed_table' is set but 'tables' does not list detailed")
        return self

    @property
    def table_suffix(self) -> str:
        return self.billing_account_id.replace("-", "_")

    def table_name(self, table: GcpTable) -> str:
        if table == "standard":
            return self.standard_table or f"gcp_billing_export_v1_{self.table_suffix}"
        return self.detailed_table or f"gcp_billing_export_resource_v1_{self.table_suffix}"

    def table_path(self, table: GcpTable) -> str:
        """project.dataset.table, as error messages and BigQuery name it."""
        return f"{self.project_id}.{self.dataset}.{self.table_name(table)}"

    @property
    def identity_field(self) -> str:
        return "billing_account_id"

    # A Cloud Billing account is billed on its own (no parent entry); its exports are the tables read.
    @property
    def account_role(self) -> str:
        return "billing"

    @property
    def export_summary(self) -> str:
        return ", ".join(f"{table}:{self.table_name(table)}" for table in self.tables)
