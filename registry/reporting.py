"""Registry settings for reporting: one reporting currency, the exchange-rate file it is converted with, the
tag rules (key aliases, value normalization) and the tags entries declare for their rows to inherit.

Only the shape is checked here (a currency code, an absolute path, tag keys and values that are plain
text): the rates file itself is read, and refused by line and column, when a build plans its partitions
(connectors/exchange_rates.py).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from registry.base import MAX_TAG_KEY, Strict, local_folder, looks_like_secret, shown, tag_text

CURRENCY = re.compile(r"^[A-Z]{3}$")
# How many days before a charge date an exchange rate may be taken from when that day has none (weekends
# and the ECB's TARGET holidays: at most four days in a row; a week leaves room for a late file).
DEFAULT_FALLBACK_DAYS = 7


def check_currency(value: object) -> str:
    text = str(value).strip()
    if not CURRENCY.match(text):
        raise ValueError(f"must be an ISO 4217 currency code of three capital letters (e.g. USD, EUR); got {shown(text)}")
    return text


class ExchangeRates(Strict):
    """Where the exchange rates come from: a local CSV file, either the European Central Bank's reference
    rates (eurofxref-hist.csv: Date,USD,JPY,... per 1 EUR) or a plain date,from,to,rate file."""

    file: str
    max_fallback_days: int = Field(default=DEFAULT_FALLBACK_DAYS, ge=0, le=31, strict=True)

    @field_validator("file")
    @classmethod
    def _file(cls, value: str) -> str:
        if looks_like_secret(value) and "://" in value:
            raise ValueError(f"must be a local file path, not a URL with credentials ({len(value)} characters, not shown)")
        return local_folder(value, kind="file")


class TagValueRules(Strict):
    """How tag values are normalized: surrounding whitespace trimmed (default), case folded (default: kept).
    ``keys`` limits the case rule to some (canonical) keys; default every key."""

    trim: bool = True
    case: Literal["lower", "upper", "preserve"] = "preserve"
    keys: list[str] | None = None

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("must be a list of tag keys (e.g. [team, env])")
        return [tag_text(k, "a tag key", MAX_TAG_KEY).strip() for k in value]


class TagRules(Strict):
    """Which keys mean the same tag, and how values are normalized.

    aliases: canonical key -> the keys providers write for it, in order of preference (the canonical key
    as written always comes first). Keys are matched exactly as the provider writes them: list each
    spelling ('user:team', 'Team', 'team/app')."""

    aliases: dict[str, list[str]] = Field(default_factory=dict)
    values: TagValueRules = Field(default_factory=TagValueRules)

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError("must map each canonical tag key to the list of keys providers write for it, e.g. "
                             "{team: [user:team, Team, team/app]}")
        aliases: dict[str, list[str]] = {}
        for key, spellings in value.items():
            canonical = tag_text(key, "a canonical tag key", MAX_TAG_KEY).strip()
            if isinstance(spellings, str):
                spellings = [spellings]
            if not isinstance(spellings, list) or not spellings:
                raise ValueError(f"{shown(canonical)}: give the list of keys providers write for it, e.g. [user:team, Team]")
            aliases[canonical] = [tag_text(s, f"{shown(canonical)}: an alias", MAX_TAG_KEY) for s in spellings]
        return aliases

    @model_validator(mode="after")
    def _one_meaning(self) -> TagRules:
        owner: dict[str, str] = {}
        for canonical, spellings in self.aliases.items():
            for spelling in spellings:
                if spelling == canonical:
                    continue
                if spelling in self.aliases:
                    raise ValueError(f"aliases: {shown(spelling)} is a canonical key itself and cannot also be an alias "
                                     f"of {shown(canonical)}")
                if spelling in owner and owner[spelling] != canonical:
                    raise ValueError(f"aliases: {shown(spelling)} is listed under both {shown(owner[spelling])} and "
                                     f"{shown(canonical)}; a provider key can mean one tag only")
                owner[spelling] = canonical
        return self

    def spellings(self, canonical: str) -> list[str]:
        """The keys read for a canonical key, in order of preference: the key itself, then its aliases."""
        return [canonical, *(s for s in self.aliases.get(canonical, []) if s != canonical)]

    @property
    def canonical_keys(self) -> list[str]:
        """Keys that get explicit handling: every aliased key and every key the case rule names."""
        keys = list(self.aliases)
        keys += [k for k in (self.values.keys or []) if k not in keys]
        return keys
