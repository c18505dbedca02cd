"""Typed registry model. One place for every rule about what a registry entry may say.

The field names are a user-facing contract (see README "Registering accounts"); add, never rename.
"""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_month(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = str(value)
    if not MONTH_PATTERN.match(value):
        raise ValueError(f"{field} must be a month written YYYY-MM (e.g. 2024-07); got {value!r}")
    return value


def month_start(month: str) -> date:
    year, mon = month.split("-")
    return date(int(year), int(mon), 1)


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as 'acount_id' must not silently drop a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AwsCredentials(_Strict):
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
        if value is not None and not ENV_NAME_PATTERN.match(value):
            raise ValueError(
                f"must be the NAME of an environment variable (letters, digits, _), not its value; got {value!r}"
            )
        return value

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", value):
            raise ValueError(f"must be an IAM role ARN like arn:aws:iam::123456789012:role/Name; got {value!r}")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> AwsCredentials:
        if (self.access_key_id_env is None) != (self.secret_access_key_env is None):
            raise ValueError("access_key_id_env and secret_access_key_env go together: set both or neither")
        return self


class AwsExport(_Strict):
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
        value = os.path.expandvars(os.path.expanduser(value))
        if "$" in value:
            raise ValueError(f"refers to an environment variable that is not set: {value!r}")
        if value.startswith("s3://"):
            name = value[len("s3://") :].strip("/")
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", name):
                raise ValueError(
                    f"must be the bucket root, s3://<bucket-name> (3-63 lowercase letters, digits, '.', '-'); "
                    f"put sub-folders in 'prefix'; got {value!r}"
                )
            return "s3://" + name
        if value.startswith("file://"):
            value = value[len("file://") :]
        if "://" in value:
            raise ValueError(f"must be s3://bucket, file:///path or a local path; got {value!r}")
        if not value.startswith("/"):
            raise ValueError(f"a local folder must be an absolute path (or file:///...); got {value!r}")
        return value.rstrip("/") or "/"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if ".." in value.split("/"):
            raise ValueError(f"must not contain '..'; got {value!r}")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9_.-]+$", value) or value in (".", ".."):
            raise ValueError(f"must be the report/export name (letters, digits, '_', '-', '.'); got {value!r}")
        return value

    @field_validator("from_month")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        return _check_month(value, "from")

    @field_validator("until_month")
    @classmethod
    def _until(cls, value: str | None) -> str | None:
        return _check_month(value, "until")

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


class AwsAccount(_Strict):
    provider: Literal["aws"]
    key: str
    name: str | None = None
    account_id: str
    role: Literal["payer", "linked"]
    mpa: Literal["dedicated", "no", "shared"] | None = None
    export: AwsExport | None = None
    exports: list[AwsExport] | None = None
    payer: str | None = None
    credentials: AwsCredentials | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _check_key(value)

    @field_validator("mpa", mode="before")
    @classmethod
    def _mpa(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted `mpa: no` as the boolean false; the user meant the word.
        return "no" if value is False else value

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
            raise ValueError(f"must be exactly 12 digits, as a quoted string; got {text!r} ({len(text)} characters)")
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
            for field in ("mpa", "export", "exports", "credentials"):
                if getattr(self, field) is not None:
                    raise ValueError(f"'{field}' belongs on the payer entry, not on a linked account")
        return self

    @property
    def all_exports(self) -> list[AwsExport]:
        return list(self.exports) if self.exports else ([self.export] if self.export else [])

    @property
    def cost_basis(self) -> Literal["blended", "unblended"]:
        """The payer's mpa rule: dedicated or no -> blended; shared or absent -> unblended."""
        return "blended" if self.mpa in ("dedicated", "no") else "unblended"

    @property
    def display_name(self) -> str:
        return self.name or self.key

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


def _check_key(value: str) -> str:
    if "|" in value or not KEY_PATTERN.match(value):
        raise ValueError(
            f"must be lowercase letters, digits and '-' (it becomes a Dagster partition/asset key); got {value!r}"
        )
    return value


AnyAccount = Annotated[AwsAccount, Field(discriminator="provider")]


def account_model_for(provider: object) -> type[BaseModel] | None:
    return {"aws": AwsAccount}.get(str(provider)) if provider is not None else None


Account = AwsAccount


class Registry(BaseModel):
    """All registered accounts, validated across entries (unique keys and ids, payers exist)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[AwsAccount]
    source_file: str = "<memory>"
    first_month: str = "2020-01"

    @field_validator("first_month")
    @classmethod
    def _first_month(cls, value: str) -> str:
        return _check_month(value, "first_month") or "2020-01"

    @classmethod
    def build(cls, accounts: list[AwsAccount], *, source_file: str = "<memory>", **settings: object) -> Registry:
        problems = cls.cross_check(list(enumerate(accounts)))
        if problems:
            raise ValueError("\n".join(problems))
        return cls(accounts=accounts, source_file=source_file, **settings)  # type: ignore[arg-type]

    @staticmethod
    def cross_check(indexed: list[tuple[int, AwsAccount]]) -> list[str]:
        """Rules across entries: unique keys and account ids, linked accounts name a registered payer."""
        problems: list[str] = []
        seen_keys: dict[str, int] = {}
        seen_ids: dict[tuple[str, str], int] = {}
        for index, account in indexed:
            if account.key in seen_keys:
                problems.append(
                    f"accounts[{index}].key: '{account.key}' is already used by accounts[{seen_keys[account.key]}]; "
                    "keys must be unique"
                )
            else:
                seen_keys[account.key] = index
            identity = (account.provider, account.account_id)
            if identity in seen_ids:
                problems.append(
                    f"accounts[{index}].account_id: {account.account_id} is already registered as "
                    f"accounts[{seen_ids[identity]}]; register each account once"
                )
            else:
                seen_ids[identity] = index
        by_key = {account.key: account for _, account in indexed}
        for index, account in indexed:
            if account.role == "linked":
                payer = by_key.get(account.payer or "")
                if payer is None:
                    problems.append(
                        f"accounts[{index}].payer: no entry has key '{account.payer}'; "
                        "name the key of a registered aws payer"
                    )
                elif payer.provider != "aws" or payer.role != "payer":
                    problems.append(f"accounts[{index}].payer: '{account.payer}' is not an aws payer entry")
        return problems

    def get(self, key: str) -> AwsAccount:
        for account in self.accounts:
            if account.key == key:
                return account
        raise KeyError(f"no registered account with key '{key}' in {self.source_file}")

    @property
    def aws_payers(self) -> list[AwsAccount]:
        return [a for a in self.accounts if a.provider == "aws" and a.role == "payer"]

    def linked_accounts_of(self, payer_key: str) -> list[AwsAccount]:
        return [a for a in self.accounts if a.provider == "aws" and a.role == "linked" and a.payer == payer_key]

    def kept_usage_accounts(self, payer_key: str) -> list[AwsAccount]:
        """Usage accounts whose rows in this payer's export are kept: the payer and its registered linked
        accounts. Rows of any other usage account are unconnected and dropped (and reported)."""
        payer = self.get(payer_key)
        return [payer, *self.linked_accounts_of(payer_key)]

    @property
    def billing_sources(self) -> list[AwsAccount]:
        """Entries that own an export and therefore get their own ingestion asset."""
        return [a for a in self.accounts if a.is_billing_source]
