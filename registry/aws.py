"""AWS registry entries: payers (with their CUR / CUR 2.0 exports) and linked accounts."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from registry.base import (
    KEY_PATTERN,
    BaseAccount,
    Strict,
    check_env_name,
    check_month,
    local_folder,
    looks_like_secret,
    shown,
)


class AwsCredentials(Strict):
    """AWS credentials, by reference only. Nothing set: the boto3 default credential chain."""

    profile: str | None = None
    role_arn: str | None = None
    external_id_env: str | None = None
    access_key_id_env: str | None = None
    secret_access_key_env: str | None = None
    session_token_env: str | None = None

    @field_validator("access_key_id_env", "secret_access_key_env", "session_token_env", "external_id_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str | None) -> str | None:
        # boto3 quotes an unknown profile name back ("The config profile (...) could not be found"): a secret
        # pasted here would reach the terminal and the run history.
        if value is not None and (looks_like_secret(value) or not re.fullmatch(r"[A-Za-z0-9_.@+ -]{1,64}", value)):
            raise ValueError(
                "must be the NAME of a profile in ~/.aws/config or ~/.aws/credentials (letters, digits, '_', '-', "
                f"'.'), never a key; got {shown(value)}"
            )
        return value

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]+$", value):
            raise ValueError(f"must be an IAM role ARN like arn:aws:iam::123456789012:role/Name; got {shown(value)}")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> AwsCredentials:
        if (self.access_key_id_env is None) != (self.secret_access_key_env is None):
            raise ValueError("access_key_id_env and secret_access_key_env go together: set both or neither")
        return self


class AwsExport(Strict):
    """One AWS billing export of a payer: where its manifests and data files are."""

    format: Literal["cur", "cur2"]
    bucket: str = Field(description="s3://bucket, file:///folder or /folder laid out like the bucket")
    prefix: str = ""
    name: str
    region: str | None = None
    endpoint_url: str | None = None
    from_month: str | None = Field(default=None, alias="from")
    until_month: str | None = Field(default=None, alias="until")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, str_strip_whitespace=True)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        if value.startswith("s3://"):
            name = value[len("s3://") :].strip("/")
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", name):
                raise ValueError(
                    f"must be the bucket root, s3://<bucket-name> (3-63 lowercase letters, digits, '.', '-'); "
                    f"put sub-folders in 'prefix'; got {shown(value)}"
                )
            return "s3://" + name
        return local_folder(value)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        # Messages and lineage name the endpoint: it must not carry a user, password or signed query.
        if value is not None and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(?:/[A-Za-z0-9._~/-]*)?", value):
            raise ValueError(
                f"must be an http(s)://host[:port][/path] URL without user, password or query; got {shown(value)}"
            )
        return value.rstrip("/") if value else value

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError(f"must not contain '..'; got {shown(value)}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+$", value) or value in (".", ".."):
            raise ValueError(f"must be the report/export name (letters, digits, '_', '-', '.'); got {shown(value)}")
        return value

    @field_validator("from_month")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return check_month(value, "from")

    @field_validator("until_month")
    @classmethod
    def _until(cls, value: str | None) -> str | None:
        return check_month(value, "until")

    @model_validator(mode="after")
    def _window(self) -> AwsExport:
        if self.from_month and self.until_month and self.from_month > self.until_month:
            raise ValueError(f"'from' ({self.from_month}) is after 'until' ({self.until_month})")
        return self

    @property
    def is_local(self) -> bool:
        return not self.bucket.startswith("s3://")

    def covers(self, month: str) -> bool:
        return (self.from_month is None or self.from_month <= month) and (
            self.until_month is None or month <= self.until_month
        )


class AwsAccount(BaseAccount):
    provider: Literal["aws"]
    account_id: str
    role: Literal["payer", "linked"]
    mpa: Literal["dedicated", "no", "shared"] | None = None
    export: AwsExport | None = None
    exports: list[AwsExport] | None = None
    payer: str | None = None
    credentials: AwsCredentials | None = None

    @field_validator("mpa", mode="before")
    @classmethod
    def _mpa(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted `mpa: no` as the boolean false; the user meant the word.
        return "no" if value is False else value

    @field_validator("payer")
    @classmethod
    def _payer(cls, value: str | None) -> str | None:
        # Checked here, not only against the registered keys: the cross-entry message quotes the value.
        if value is not None and not KEY_PATTERN.match(value):
            raise ValueError(f"must be the key of the payer entry (lowercase letters, digits and '-'); got {shown(value)}")
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id(cls, value: object) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            if len(str(value)) > 12:
                raise ValueError(f"must be exactly 12 digits; got {value} ({len(str(value))} digits)")
            raise ValueError(
                f"must be a quoted string of exactly 12 digits (unquoted, YAML reads {value} as a number "
                f"and drops leading zeros): write account_id: \"{value:012d}\""
            )
        text = str(value)
        if not re.fullmatch(r"\d{12}", text):
            raise ValueError(f"must be exactly 12 digits, as a quoted string; got {shown(text)} ({len(text)} characters)")
        return text

    @model_validator(mode="after")
    def _role_fields(self) -> AwsAccount:
        if self.role == "payer":
            if self.payer is not None:
                raise ValueError("'payer' is for linked accounts; a payer account has no payer")
            if self.export is not None and self.exports is not None:
                raise ValueError("give either 'export' (one) or 'exports' (a list), not both")
            if self.export is None and not self.exports:
                raise ValueError("a payer needs 'export' (or 'exports:' for a CUR -> CUR 2.0 migration)")
            if self.exports:
                _check_export_windows(self.exports)
        else:
            if self.payer is None:
                raise ValueError("a linked account needs 'payer: <key of its payer entry>'")
            for field in ("mpa", "export", "exports", "credentials", "max_shrink_percent", "freshness"):
                if getattr(self, field) is not None:
                    raise ValueError(f"'{field}' belongs on the payer entry, not on a linked account")
        return self

    @property
    def all_exports(self) -> list[AwsExport]:
        return list(self.exports) if self.exports else ([self.export] if self.export else [])

    @property
    def cost_basis(self) -> Literal["blended", "unblended"] | None:
        """A payer's mpa rule: dedicated or no -> blended; shared or absent -> unblended. A linked account
        has none of its own (its rows are billed by its payer's rule): None."""
        if self.role != "payer":
            return None
        return "blended" if self.mpa in ("dedicated", "no") else "unblended"

    @property
    def account_role(self) -> str:
        return self.role

    @property
    def parent_key(self) -> str | None:
        return self.payer

    @property
    def parent_field(self) -> str:
        return "payer"

    @property
    def export_summary(self) -> str | None:
        return ", ".join(f"{e.format}:{e.name}" for e in self.all_exports) or None

    @property
    def is_billing_source(self) -> bool:
        return self.role == "payer"


def _check_export_windows(exports: list[AwsExport]) -> None:
    if len(exports) > 1:
        open_ended = [e for e in exports if e.from_month is None]
        if len(open_ended) > 1:
            raise ValueError(
                "when a payer lists several exports, at most one may omit 'from' (the oldest); "
                "give the others 'from: YYYY-MM' (the cutover month)"
            )


