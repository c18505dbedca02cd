"""Azure registry entries: an EA enrollment or MCA billing account with its two Cost Management exports.

Azure exports cost twice: the *actual* dataset (what the invoice says; reservation and savings-plan
purchases as lump sums) and the *amortized* one (purchases spread over the usage they cover). costlake
loads both for every month and meets them in `costs` (BilledCost from actual, EffectiveCost from
amortized), so an entry names both exports.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from registry.base import BaseAccount, Strict, check_env_name, local_folder, shown

_GUID = r"[0-9A-Fa-f]{8}-(?:[0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12}"
# Exactly what Azure's Billing REST API accepts as {billingAccountName}
# (learn.microsoft.com/rest/api/billing, Billing Accounts - Get, URI parameter pattern):
#   digits                  an EA enrollment number
#   PCN.<letters, digits>   a Partner Center (CSP) partner billing account
#   <guid>                  a MOSA (pay-as-you-go) account, or an MCA account as some exports print it
#   <guid>:<guid>_<date>    an MCA / MPA billing account: '<account guid>:<organization (tenant) guid>_<agreement date>'
BILLING_ACCOUNT_ID_FORMS = rf"[0-9]+|[Pp][Cc][Nn]\.[A-Za-z0-9]+|{_GUID}(?::{_GUID}_[0-9]{{4}}(?:-[0-9]{{2}}){{2}})?"
BILLING_ACCOUNT_ID_PATTERN = rf"^(?:{BILLING_ACCOUNT_ID_FORMS})$"
BILLING_ACCOUNT_ID = re.compile(BILLING_ACCOUNT_ID_PATTERN)
_EA_ENROLLMENT = re.compile(r"^[0-9]+$")
_PARTNER_ACCOUNT = re.compile(r"^[Pp][Cc][Nn]\.")
_MCA_ACCOUNT = re.compile(rf"^{_GUID}:")

AzureAgreement = Literal["ea", "mpa", "mca", "mosa/mca"]


def billing_account_key(billing_account_id: str) -> str:
    """What identifies a billing account whichever way it is written: Azure treats ids case-insensitively
    (GUIDs, the 'PCN.' prefix), and the GUID before ':' of an MCA id is the account itself (the rest is its
    organization's tenant id and agreement date), so '<guid>:<guid>_<date>' and the bare '<guid>' that some
    MCA exports print in billingAccountId are the same account."""
    text = billing_account_id.strip().lower()
    return text.split(":", 1)[0] if _MCA_ACCOUNT.match(text) else text


def same_billing_account(a: str, b: str) -> bool:
    return billing_account_key(a) == billing_account_key(b)


_CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_STORAGE_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
# Hosts where the account is the first path segment (Azurite and other emulators):
# http://127.0.0.1:10000/devstoreaccount1/<container>
_PATH_STYLE_HOSTS = re.compile(r"^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|azurite|host\.docker\.internal)$")


def parse_container_url(value: str) -> tuple[str, str, str]:
    """'https://acct.blob.core.windows.net/exports' -> (account_url, account, container).

    Emulators use path-style URLs ('http://127.0.0.1:10000/devstoreaccount1/exports')."""
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError(
            "must be the container URL without a query string: a SAS token is a secret — put it in an "
            "environment variable and name it with 'credentials: {sas_token_env: VARIABLE_NAME}'"
        )
    if parts.username or parts.password:
        raise ValueError("must not contain a user name or password")
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if _PATH_STYLE_HOSTS.match(host):
        if len(segments) != 2:
            raise ValueError(
                f"an emulator URL is http://<host:port>/<account>/<container>; got {shown(value)}"
            )
        account, container = segments
        account_url = f"{parts.scheme}://{parts.netloc}/{account}"
    else:
        if len(segments) != 1:
            raise ValueError(
                "must be the container URL https://<account>.blob.core.windows.net/<container> "
                f"(put folders in 'path'); got {shown(value)}"
            )
        account, container = host.split(".", 1)[0], segments[0]
        account_url = f"{parts.scheme}://{parts.netloc}"
    if not _STORAGE_ACCOUNT.match(account):
        raise ValueError(f"storage account name {shown(account)} must be 3-24 lowercase letters and digits")
    if not _CONTAINER_NAME.match(container):
        raise ValueError(f"container name {shown(container)} must be 3-63 lowercase letters, digits and single '-'")
    return account_url, account, container


class AzureCredentials(Strict):
    """How to reach the storage account, by reference only (never the secret itself). One of:
    connection_string_env | sas_token_env | tenant_id + client_id + client_secret_env.
    Nothing set: Azure's default credential chain (azure-identity's DefaultAzureCredential)."""

    connection_string_env: str | None = None
    sas_token_env: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None

    @field_validator("connection_string_env", "sas_token_env", "client_secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(rf"{_GUID}|[A-Za-z0-9.-]+\.[A-Za-z]{{2,}}", value):
            raise ValueError(f"must be the Entra tenant id (a GUID) or its domain; got {shown(value)}")
        return value

    @field_validator("client_id")
    @classmethod
    def _client(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_GUID, value):
            raise ValueError(f"must be the application (client) id, a GUID; got {shown(value)}")
        return value

    @model_validator(mode="after")
    def _one_method(self) -> AzureCredentials:
        service_principal = [self.tenant_id, self.client_id, self.client_secret_env]
        if any(v is not None for v in service_principal) and not all(v is not None for v in service_principal):
            raise ValueError("tenant_id, client_id and client_secret_env go together: set all three or none")
        methods = [
            name
            for name, present in (
                ("connection_string_env", self.connection_string_env is not None),
                ("sas_token_env", self.sas_token_env is not None),
                ("tenant_id/client_id/client_secret_env", self.tenant_id is not None),
            )
            if present
        ]
        if len(methods) > 1:
            raise ValueError(f"give one way to authenticate, not several: {', '.join(methods)}")
        return self

    @property
    def method(self) -> str:
        if self.connection_string_env:
            return "connection_string"
        if self.sas_token_env:
            return "sas_token"
        if self.tenant_id:
            return "service_principal"
        return "default"


class AzureExport(Strict):
    """One Cost Management export: the container (or a local folder laid out like it) and the export's
    folder in it (the export's root folder path and name, under which Azure writes one
    <YYYYMMDD-YYYYMMDD> folder per month)."""

    container: str = Field(description="https://<account>.blob.core.windows.net/<container>, file:///folder or /folder")
    path: str = ""

    @field_validator("container")
    @classmethod
    def _container(cls, value: str) -> str:
        if value.startswith(("https://", "http://")):
            parse_container_url(value)
            return value.rstrip("/")
        if value.startswith(("az://", "abfs://", "abfss://", "wasb://", "wasbs://")):
            raise ValueError(
                f"write the container as https://<account>.blob.core.windows.net/<container>; got {shown(value)}"
            )
        return local_folder(value)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/") or "\\" in value:
            raise ValueError(f"must not contain '..' or '\\'; got {shown(value)}")
        return value

    @property
    def is_local(self) -> bool:
        return not self.container.startswith(("https://", "http://"))

    @property
    def name(self) -> str:
        """The export's name as costlake shows it: the last folder of its path (Azure puts the export
        name there), else the container's."""
        if self.path:
            return self.path.rsplit("/", 1)[-1]
        return self.container.rstrip("/").rsplit("/", 1)[-1]

    @property
    def location(self) -> str:
        return f"{self.container}/{self.path}" if self.path else self.container


class AzureExports(Strict):
    actual: AzureExport
    amortized: AzureExport

    @model_validator(mode="after")
    def _distinct(self) -> AzureExports:
        if (self.actual.container, self.actual.path) == (self.amortized.container, self.amortized.path):
            raise ValueError(
                "actual and amortized must be two different exports (different 'path'); one folder cannot "
                "hold both datasets"
            )
        return self


class AzureAccount(BaseAccount):
    provider: Literal["azure"]
    sub_account_kind: ClassVar[str | None] = "subscription"
    billing_account_id: str
    exports: AzureExports
    credentials: AzureCredentials | None = None

    @field_validator("billing_account_id", mode="before")
    @classmethod
    def _billing_account_id(cls, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                f"must be a quoted string (write billing_account_id: \"{value}\"): ids are text, and YAML "
                "would drop leading zeros of an unquoted number"
            )
        text = str(value).strip()
        if not BILLING_ACCOUNT_ID.match(text):
            raise ValueError(
                "must be a billing account id as Azure's Billing API writes it: an EA enrollment number "
                "(digits, e.g. \"8611537\"), a partner id ('PCN.' + letters and digits), a GUID (MOSA, or an MCA "
                f"account as its exports print it) or an MCA id '<guid>:<guid>_YYYY-MM-DD'; got {shown(text)}"
            )
        return text

    @property
    def agreement(self) -> AzureAgreement:
        """The agreement the id's form tells: 'ea' (digits), 'mpa' (PCN.), 'mca' (<guid>:<guid>_<date>); a bare
        GUID is a MOSA account or an MCA account written short ('mosa/mca')."""
        if _EA_ENROLLMENT.match(self.billing_account_id):
            return "ea"
        if _PARTNER_ACCOUNT.match(self.billing_account_id):
            return "mpa"
        return "mca" if _MCA_ACCOUNT.match(self.billing_account_id) else "mosa/mca"

    @property
    def identity(self) -> tuple[str, str]:
        # One account registered twice, in two of its written forms, is still one account.
        return ("azure", billing_account_key(self.billing_account_id))

    @property
    def identity_field(self) -> str:
        return "billing_account_id"

    # An EA enrollment / MCA billing account is billed on its own: no parent entry, and both datasets are read.
    @property
    def account_role(self) -> str:
        return "billing"

    @property
    def export_summary(self) -> str:
        return ", ".join(f"{dataset}:{export.name}" for dataset, export in self.export_of.items())

    @property
    def export_of(self) -> dict[str, AzureExport]:
        return {"actual": self.exports.actual, "amortized": self.exports.amortized}
