"""The registry: every account entry, validated one by one and across entries.

Provider models live in registry/<provider>.py; this module unites them. The field names are a
user-facing contract (see README "Registering accounts"); add, never rename.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from registry.alerts import AlertSettings
from registry.aws import AwsAccount, AwsCredentials, AwsExport
from registry.azure import AzureAccount
from registry.base import BaseAccount, check_month, month_start
from registry.gcp import GcpAccount
from registry.oci import OciAccount
from registry.reporting import ExchangeRates, TagRules, check_currency

# One entry per provider: registry value of `provider` -> its entry model (registry/<provider>.py).
PROVIDER_MODELS: dict[str, type[BaseAccount]] = {
    "aws": AwsAccount,
    "gcp": GcpAccount,
    "azure": AzureAccount,
    "oci": OciAccount,
}
Account = BaseAccount  # for type hints; at runtime entries are the provider models above
AnyAccount = Annotated[Union[tuple(PROVIDER_MODELS.values())], Field(discriminator="provider")]  # noqa: UP007


def account_model_for(provider: object) -> type[BaseAccount] | None:
    return PROVIDER_MODELS.get(str(provider)) if provider is not None else None


__all__ = ["AwsAccount", "AwsCredentials", "AwsExport", "BaseAccount", "Registry", "month_start"]


class Registry(BaseModel):
    """All registered accounts, validated across entries (unique keys and ids, payers exist)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[AnyAccount]
    source_file: str = "<memory>"
    first_month: str = "2020-01"
    # A new load may shrink a month that had rows by at most this many percent (and never to zero rows)
    # before it replaces the month's data; entries may set their own (see max_shrink_percent_for).
    max_shrink_percent: int = Field(default=50, ge=0, le=100, strict=True)
    # Hours a superseded lake partition version is kept after a publish: an analyst session opened before
    # the publish reads the old version until it reconnects; older versions are deleted (docs/operations.md).
    lake_retention_hours: int = Field(default=24, ge=0, le=24 * 366, strict=True)
    # The one currency every cost is also shown in (costs.x_*InReportingCurrency), converted with the rates
    # of `exchange_rates` at the charge date (docs/analysts.md, "One reporting currency").
    reporting_currency: str | None = None
    exchange_rates: ExchangeRates | None = None
    # Tag key aliases and value normalization for costs.x_Tags and cost_tags (docs/registry.md, "Tags").
    tag_rules: TagRules = Field(default_factory=TagRules)
    # Where run failures, held-back partitions and stale sources are posted (registry/alerts.py); none: no alerts.
    alerts: AlertSettings | None = None

    @field_validator("first_month")
    @classmethod
    def _first_month(cls, value: str) -> str:
        return check_month(value, "first_month") or "2020-01"

    @field_validator("reporting_currency", mode="before")
    @classmethod
    def _reporting_currency(cls, value: object) -> str | None:
        return None if value is None else check_currency(value)

    @field_validator("tag_rules", mode="before")
    @classmethod
    def _tag_rules(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("exchange_rates")
    @classmethod
    def _rates_need_a_currency(cls, value: ExchangeRates | None, info: ValidationInfo) -> ExchangeRates | None:
        # Only when reporting_currency was left out (a wrong one has its own message).
        if value is not None and "reporting_currency" in info.data and info.data["reporting_currency"] is None:
            raise ValueError("converts costs into the reporting currency: set reporting_currency too "
                             "(e.g. reporting_currency: USD)")
        return value

    @classmethod
    def build(cls, accounts: list[AnyAccount], *, source_file: str = "<memory>", **settings: object) -> Registry:
        problems = cls.cross_check(list(enumerate(accounts)))
        if problems:
            raise ValueError("\n".join(problems))
        return cls(accounts=accounts, source_file=source_file, **settings)  # type: ignore[arg-type]

    @staticmethod
    def cross_check(indexed: list[tuple[int, BaseAccount]]) -> list[str]:
        """Rules across entries: unique keys and provider ids, linked accounts name a registered payer."""
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
            identity = account.identity
            if identity in seen_ids:
                problems.append(
                    f"accounts[{index}].{account.identity_field}: {account.provider_account_id} is already registered "
                    f"as accounts[{seen_ids[identity]}] (the same {account.provider} account); register each account once"
                )
            else:
                seen_ids[identity] = index
        by_key = {account.key: account for _, account in indexed}
        for index, account in indexed:
            # An entry billed through another (an AWS linked account through its payer) names a registered
            # billing source of its own provider.
            if account.parent_key is None:
                continue
            field = account.parent_field
            parent = by_key.get(account.parent_key)
            if parent is None:
                problems.append(
                    f"accounts[{index}].{field}: no entry has key '{account.parent_key}'; "
                    f"name the key of a registered {account.provider} {field}"
                )
            elif parent.provider != account.provider or not parent.is_billing_source:
                problems.append(f"accounts[{index}].{field}: '{account.parent_key}' is not an {account.provider} {field} entry")
        return problems

    def max_shrink_percent_for(self, account: BaseAccount) -> int:
        """The shrink limit of a billing source: the entry's own max_shrink_percent, else the registry's."""
        own = account.max_shrink_percent
        return self.max_shrink_percent if own is None else own

    def get(self, key: str) -> Account:
        for account in self.accounts:
            if account.key == key:
                return account
        raise KeyError(f"no registered account with key '{key}' in {self.source_file}")

    def of_provider(self, provider: str) -> list[Account]:
        return [a for a in self.accounts if a.provider == provider]

    def sources_of(self, provider: str) -> list[Account]:
        """Billing sources (entries that own exports) of one provider, in registry order."""
        return [a for a in self.accounts if a.provider == provider and a.is_billing_source]

    def members_of(self, source_key: str) -> list[Account]:
        """A billing source and the entries registered under it (an AWS payer and its linked accounts): the
        sub accounts whose rows in the source's export are kept. Rows of any other sub account are dropped
        (and reported)."""
        return [self.get(source_key), *(a for a in self.accounts if a.parent_key == source_key)]

    @property
    def billing_sources(self) -> list[Account]:
        """Entries that own an export and therefore get their own ingestion asset."""
        return [a for a in self.accounts if a.is_billing_source]
