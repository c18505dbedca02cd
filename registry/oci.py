"""OCI registry entries: one tenancy whose cost (and usage) reports Oracle writes to Object Storage.

Oracle keeps each tenancy's reports in its own ``bling`` namespace, in a bucket named after the
tenancy OCID, under ``reports/cost-csv/`` and ``reports/usage-csv/``. A user registers the tenancy
and an API signing key *by reference* (user OCID, key fingerprint, path of the PEM file).
"""

from __future__ import annotations

import os
import re
from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from registry.base import BaseAccount, Strict, check_env_name, local_folder, looks_like_secret, shown

# ocid1.<resource type>.<realm>.[region][.future use].<unique id>; a tenancy has no region part,
# hence the '..' in ocid1.tenancy.oc1..aaaa...
TENANCY_OCID = re.compile(r"^ocid1\.tenancy\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9]+$")
USER_OCID = re.compile(r"^ocid1\.user\.[a-z0-9]+\.[a-z0-9-]*\.[a-z0-9]+$")
FINGERPRINT = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15}$")
REGION = re.compile(r"^[a-z]{2,}-[a-z]+-\d+$")
CURRENCY = re.compile(r"^[A-Z]{3}$")

OciReport = Literal["cost", "usage"]


class OciCredentials(Strict):
    """An OCI API signing key, all by reference: nothing here is a secret itself."""

    user_ocid: str
    fingerprint: str
    key_file: str
    pass_phrase_env: str | None = None

    @field_validator("user_ocid")
    @classmethod
    def _user(cls, value: str) -> str:
        if not USER_OCID.match(value):
            raise ValueError(f"must be a user OCID like ocid1.user.oc1..aaaa...; got {shown(value)}")
        return value

    @field_validator("fingerprint", mode="before")
    @classmethod
    def _fingerprint(cls, value: object) -> str:
        text = str(value).strip().lower()
        if not FINGERPRINT.match(text):
            raise ValueError(
                "must be the API key's fingerprint: 16 hex pairs separated by ':' "
                f"(e.g. 12:34:56:78:90:ab:cd:ef:12:34:56:78:90:ab:cd:ef); got {shown(value)}"
            )
        return text

    @field_validator("key_file")
    @classmethod
    def _key_file(cls, value: str) -> str:
        # A path, never the key: a PEM body is refused by the loader before we get here; anything
        # multi-line cannot be a path either.
        if "PRIVATE KEY" in value or looks_like_secret(value):
            raise ValueError(
                f"must be the PATH of the PEM key file, not the key itself (got {len(value)} character(s) that look "
                "like a credential, not shown)"
            )
        expanded = os.path.expandvars(os.path.expanduser(value))
        if "$" in expanded:
            raise ValueError(f"refers to an environment variable that is not set: {shown(value)}")
        if not expanded.startswith("/"):
            raise ValueError(f"must be an absolute path to the PEM key file (or ~/...); got {shown(value)}")
        return expanded

    @field_validator("pass_phrase_env")
    @classmethod
    def _pass_phrase_env(cls, value: str | None) -> str | None:
        return check_env_name(value)


class OciAccount(BaseAccount):
    provider: Literal["oci"]
    sub_account_kind: ClassVar[str | None] = "compartment"
    tenancy_ocid: str
    region: str | None = None
    reports: list[OciReport] = ["cost", "usage"]
    # A local folder laid out like the bucket (reports/cost-csv/..., reports/usage-csv/...).
    bucket: str | None = None
    credentials: OciCredentials | None = None
    namespace: str = "bling"
    # Object Storage endpoint override (a local test server); default: the region's endpoint.
    endpoint: str | None = None
    # Currency for rows whose cost/currencyCode is empty (seen in real zero-cost rows) when the
    # report file itself names no single currency. A tenancy bills in one currency.
    currency: str | None = None
    # A correction whose lineItem/backreferenceNo names no loaded line of its month: 'fail' stops the
    # load (the original is missing: reports older than a year or before first_month); 'keep' counts
    # the correction line as it is and reports it in the load record.
    unmatched_corrections: Literal["fail", "keep"] = "fail"

    @field_validator("tenancy_ocid")
    @classmethod
    def _tenancy(cls, value: str) -> str:
        if not TENANCY_OCID.match(value):
            raise ValueError(
                f"must be a tenancy OCID like ocid1.tenancy.oc1..aaaaaaaa... (lowercase); got {shown(value)}"
            )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not REGION.match(value):
            raise ValueError(f"must be an OCI region identifier like us-ashburn-1 or ap-tokyo-1; got {shown(value)}")
        return value

    @field_validator("reports", mode="before")
    @classmethod
    def _reports(cls, value: object) -> object:
        if value is None:
            return ["cost", "usage"]
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if not value:
                raise ValueError("list at least one of cost, usage (or leave 'reports' out: both)")
            if len(set(map(str, value))) != len(value):
                raise ValueError("lists a report twice; list each of cost, usage once")
            if "cost" not in value:
                raise ValueError("must include 'cost': BilledCost comes from the cost reports")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        return None if value is None else local_folder(value)

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9_-]*$", value):
            raise ValueError(f"must be an Object Storage namespace (lowercase letters, digits); got {shown(value)}")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+(:\d+)?/?$", value):
            raise ValueError(f"must be an http(s)://host[:port] URL; got {shown(value)}")
        return value.rstrip("/") if value else value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not CURRENCY.match(value):
            raise ValueError(f"must be an ISO 4217 code such as USD, JPY or EUR; got {shown(value)}")
        return value

    @model_validator(mode="after")
    def _location(self) -> OciAccount:
        if self.bucket is None:
            if self.credentials is None:
                raise ValueError(
                    "credentials (user_ocid, fingerprint, key_file) are needed to read the reports from "
                    "Object Storage; or set 'bucket' to a local folder laid out like the reports bucket"
                )
            if self.region is None and self.endpoint is None:
                raise ValueError("region is needed to reach the tenancy's Object Storage (e.g. us-ashburn-1)")
        return self

    @property
    def is_local(self) -> bool:
        return self.bucket is not None

    @property
    def identity_field(self) -> str:
        return "tenancy_ocid"

    # A tenancy is billed on its own (no parent entry). Oracle writes its reports itself: there is no
    # export the customer configured and named, so export_summary stays None.
    @property
    def account_role(self) -> str:
        return "tenancy"
