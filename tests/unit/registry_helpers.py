"""Writing a registry YAML into a test folder and collecting what the loader refuses (shared by the
registry tests of every provider)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from registry import RegistryError, load_registry


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_registry(write(tmp_path, text))
    return caught.value.problems
