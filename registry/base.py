"""Shared building blocks of registry entries: strict models, keys, months, env-var names, locations."""

from __future__ import annotations

import os
import re
from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEY_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
MONTH_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Values that are credentials whatever field holds them: AWS access key ids, PEM private keys, Azure
# storage connection strings and SAS signatures. The loader refuses them anywhere in the file.
SECRET_VALUE_PATTERNS = (
    re.compile(r"^(AKIA|ASIA)[0-9A-Z]{16}$"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AccountKey=", re.IGNORECASE),
    re.compile(r"(^|[?&])sig=[A-Za-z0-9%+/=]{20,}"),
    # A Slack incoming-webhook URL is a credential: anyone holding it can post to the channel.
    re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/", re.IGNORECASE),
)
# What a secret pasted into a field looks like, beyond the patterns above: a query string or key=value
# list (SAS tokens, connection strings), JSON, several lines, a long random token of mixed case and
# digits (AWS secret access keys: 40 characters of A-Z a-z 0-9 + /), or a long hex digest. Ids and names
# the registry takes are none of these: GUIDs and OCIDs are lowercase (or upper-case) with separators.
_SECRET_CHARACTERS = re.compile(r"[=&?{};\n\r]")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+/_-]{20,}")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f-])")
# A value a message may quote: the shape of a name, id, month, path or URL without a query string.
_SHOWABLE = re.compile(r"^[A-Za-z0-9_.:/~ ()$-]{1,120}$")


def _mixed_token(run: str) -> bool:
    return any(c.islower() for c in run) and any(c.isupper() for c in run) and any(c.isdigit() for c in run)


def looks_like_secret(value: str) -> bool:
    """Whether ``value`` could be a credential: such a value is never quoted back. Linear in its length."""
    return (
        any(p.search(value) for p in SECRET_VALUE_PATTERNS)
        or _SECRET_CHARACTERS.search(value) is not None
        or any(_mixed_token(m.group()) for m in _TOKEN_RUN.finditer(value))
        or _HEX_RUN.search(value) is not None
    )


def shown(value: object) -> str:
    """``value`` quoted for an error message when it has the shape of a name or id; otherwise only its
    length, so a secret pasted into the wrong field is never echoed (to the terminal, logs or run history)."""
    text = str(value)
    if _SHOWABLE.match(text) and not looks_like_secret(text):
        return repr(text)
    why = "it looks like a credential" if looks_like_secret(text) else "it is not a name or id"
    return f"a value of {len(text)} character(s), not shown because {why}"


def check_month(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = str(value)
    if not MONTH_PATTERN.match(value):
        raise ValueError(f"{field} must be a month written YYYY-MM (e.g. 2024-07); got {shown(value)}")
    return value


def month_start(month: str) -> date:
    year, mon = month.split("-")
    return date(int(year), int(mon), 1)


def check_env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME_PATTERN.match(value):
        if looks_like_secret(value):
            raise ValueError(
                f"must be the NAME of an environment variable, not its value: this is a value of {len(value)} "
                "character(s) that looks like the secret itself (not shown). Put the secret in an environment "
                "variable and write the variable's name here (letters, digits and _, e.g. BILLING_SAS_TOKEN)"
            )
        raise ValueError(
            "must be the NAME of an environment variable (letters, digits and _, not starting with a digit; "
            f"e.g. BILLING_SAS_TOKEN), not its value; got {shown(value)}"
        )
    return value


def local_folder(value: str, kind: str = "folder") -> str:
    """A local folder (or file: ``kind``) given as file:///path or /path (env vars and ~ expanded), returned
    as an absolute path."""
    # Messages quote the value as written: the expanded one may hold whatever an environment variable holds.
    written = value
    value = os.path.expandvars(os.path.expanduser(value))
    if "$" in value:
        raise ValueError(f"refers to an environment variable that is not set: {shown(written)}")
    if value.startswith("file://"):
        value = value[len("file://") :]
    if "://" in value:
        raise ValueError(f"must be a local {kind} (a path or file:///path) here; got {shown(written)}")
    if not value.startswith("/"):
        raise ValueError(f"a local {kind} must be an absolute path (or file:///...); got {shown(written)}")
    return value.rstrip("/") or "/"


# Provider tag keys: AWS allows 128 characters, Azure 512, GCP labels 63, OCI 100; values up to 256. Anything
# longer is not a tag a provider could have written.
MAX_TAG_KEY = 512
MAX_TAG_VALUE = 256


def tag_text(value: object, what: str, limit: int) -> str:
    """One tag key or value as the registry declares it: one line of text (a number is taken as its text:
    YAML reads an unquoted 2024 as a number)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be text; write it in quotes (YAML reads an unquoted yes/no/on/off as true/false)")
    if not isinstance(value, str | int):
        raise ValueError(f"{what} must be text; got a {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise ValueError(f"{what} must not be empty")
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text)} characters long; providers allow at most {limit}")
    if "\n" in text or "\r" in text:
        raise ValueError(f"{what} must be one line")
    return text


def check_tags(value: object, where: str = "tags") -> dict[str, str]:
    """A mapping of tag key -> value declared in the registry (keys trimmed; values as written)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a mapping of tag key: value (e.g. {{team: data}})")
    tags: dict[str, str] = {}
    for key, item in value.items():
        key_text = tag_text(key, f"{where}: a tag key", MAX_TAG_KEY).strip()
        if item is None:
            raise ValueError(f"{where}.{shown(key_text)}: the tag needs a value (write team: data)")
        tags[key_text] = tag_text(item, f"{where}.{shown(key_text)}", MAX_TAG_VALUE)
    return tags


class Strict(BaseModel):
    # Unknown keys are errors: a typo such as 'acount_id' must not silently drop a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# An owner is what Dagster accepts as an asset owner: an email address or 'team:<name>'. The team name is
# kept to the characters a Dagster tag value allows, so it also becomes the asset's `team` tag.
_EMAIL_OWNER = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,7}$")
_TEAM_OWNER = re.compile(r"^team:[A-Za-z0-9_.-]{1,63}$")
# Ten years: a larger limit would mean "never stale", which is what a closed account may well want.
MAX_FRESHNESS_HOURS = 24 * 365 * 10


def check_owner(value: str | None) -> str | None:
    if value is not None and not (_EMAIL_OWNER.match(value) or _TEAM_OWNER.match(value)):
        raise ValueError(
            "must be an email address (alice@example.com) or a team written team:<name> (letters, digits, '_', "
            f"'.', '-'; e.g. team:finops); got {shown(value)}"
        )
    return value


class Freshness(Strict):
    """How old a billing source's newest data (its newest charge end, or the export's own timestamp) may be
    before the source is late (a warning) and stale. Each provider has defaults that follow its delivery
    rhythm (orchestration/providers/<cloud>.py); an entry overrides either here."""

    warn_after_hours: int | None = Field(default=None, ge=1, le=MAX_FRESHNESS_HOURS, strict=True)
    stale_after_hours: int | None = Field(default=None, ge=1, le=MAX_FRESHNESS_HOURS, strict=True)

    @model_validator(mode="after")
    def _order(self) -> Freshness:
        if self.warn_after_hours is not None and self.stale_after_hours is not None and (
            self.warn_after_hours >= self.stale_after_hours
        ):
            raise ValueError(
                f"warn_after_hours ({self.warn_after_hours}) must be less than stale_after_hours "
                f"({self.stale_after_hours}): a source is late before it is stale"
            )
        return self


class BaseAccount(Strict):
    """Fields every registry entry has. Subclasses add the provider's own fields."""

    provider: str
    key: str
    name: str | None = None
    # This source's own limit on how far a new load may shrink a month (see Registry.max_shrink_percent).
    max_shrink_percent: int | None = Field(default=None, ge=0, le=100, strict=True)
    # Tags the entry's rows inherit where they lack the key: every row of a billing source, the rows of an
    # AWS linked account; sub_account_tags: the rows of one subscription / project / compartment of the
    # source, by its id (docs/registry.md, "Tags").
    tags: dict[str, str] = Field(default_factory=dict)
    sub_account_tags: dict[str, dict[str, str]] = Field(default_factory=dict)
    # What `sub_account_tags` name by id (Azure subscriptions, GCP projects, OCI compartments); None when the
    # provider's sub accounts are registry entries of their own (AWS linked accounts).
    sub_account_kind: ClassVar[str | None] = None
    # Who answers for this account's billing data: an email or team:<name> (Dagster asset owners, alerts,
    # `costlake status`).
    owner: str | None = None
    # This source's own freshness limits (billing sources only; see Freshness).
    freshness: Freshness | None = None

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return check_key(value)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: object) -> dict[str, str]:
        return check_tags(value)

    @field_validator("sub_account_tags", mode="before")
    @classmethod
    def _sub_account_tags(cls, value: object) -> dict[str, dict[str, str]]:
        if value is None:
            return {}
        if cls.sub_account_kind is None:
            raise ValueError("this provider's sub accounts are registry entries of their own (AWS linked accounts): "
                             "put `tags:` on the linked account's entry instead")
        if not isinstance(value, dict):
            raise ValueError(f"must map {cls.sub_account_kind} ids to their tags, e.g. {{<id>: {{team: data}}}}")
        declared: dict[str, dict[str, str]] = {}
        seen: dict[str, str] = {}
        for sub_account, tags in value.items():
            sub_id = tag_text(sub_account, "a sub account id", MAX_TAG_KEY).strip()
            # Ids are matched without regard to case (Azure GUIDs and billing profile ids are written both ways).
            if sub_id.lower() in seen:
                raise ValueError(f"{shown(sub_id)} and {shown(seen[sub_id.lower()])} are the same sub account; keep one")
            seen[sub_id.lower()] = sub_id
            declared[sub_id] = check_tags(tags, f"sub_account_tags.{shown(sub_id)}")
        return declared


    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str | None) -> str | None:
        return check_owner(value)

    @property
    def display_name(self) -> str:
        return self.name or self.key

    # What listings show of any entry (`costlake registry list`, the registry asset, the registry tables),
    # whatever its provider. Each provider model answers them from its own fields.

    @property
    def provider_account_id(self) -> str:
        """The id the provider bills under: an AWS 12-digit account id, an Azure billing account id, a GCP
        billing account id, an OCI tenancy OCID (the value of the provider's ``identity_field``)."""
        return str(getattr(self, self.identity_field))

    @property
    def account_role(self) -> str:
        """What the entry is to its provider's billing: 'payer' / 'linked' for AWS, 'billing', 'tenancy', ..."""
        raise NotImplementedError

    @property
    def parent_key(self) -> str | None:
        """The key of the registry entry this one is billed through (an AWS linked account's payer), else None."""
        return None

    @property
    def parent_field(self) -> str:
        """The entry's field naming its parent entry (``parent_key``), for messages: AWS 'payer'."""
        return "parent"

    @property
    def export_summary(self) -> str | None:
        """The entry's exports in one short line ('<kind>:<name>, ...'), or None when it names none."""
        return None

    @property
    def cost_basis(self) -> str | None:
        """Which of the provider's cost figures BilledCost is, where the registry decides it (an AWS payer's
        blended / unblended); None otherwise."""
        return None

    @property
    def identity(self) -> tuple[str, str]:
        """(provider, provider-side id): no two entries may register the same one."""
        return (self.provider, self.provider_account_id)

    @property
    def identity_field(self) -> str:
        """The name of the entry's field that holds the provider-side id."""
        return "account_id"

    @property
    def is_billing_source(self) -> bool:
        """True when the entry owns exports and so gets its own ingestion asset."""
        return True


def check_key(value: str) -> str:
    if "|" in value or not KEY_PATTERN.match(value):
        raise ValueError(
            f"must be lowercase letters, digits and '-' (it becomes a Dagster partition/asset key); got {shown(value)}"
        )
    return value


