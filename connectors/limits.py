"""How far a compressed export may expand: the one place that bounds gzip and zip expansion.

A 2 MB ``.csv.zip`` can hold 2 GB (Deflate reaches ~1000:1 on repeated bytes), and an export is read
by decompressing it: fully into ``<home>/scratch`` for a ZIP, as a check pass for a ``.gz``. Every
place that decompresses therefore counts the bytes it gets while streaming and stops at the first of:

- ``max_ratio``: expanded bytes over the file's compressed size. Real exports compress 5-30x
  (measured on exports nobody on the project wrote: a nise legacy CUR 10x, a real AWS CUR 20x, an
  OCI cost report 16x, an Azure EA export 5x); a Deflate bomb expands ~1000x. Default 100x.
  Below ``ratio_floor`` expanded bytes the ratio is not judged: a tiny file proves nothing and
  cannot fill a disk.
- ``max_bytes``: expanded bytes of one file, whatever its ratio. Default 64 GiB (a large payer's
  CUR file is a few GiB).
- ``min_free_bytes``: where the expansion is written to disk, the free space that must stay on that
  disk. Default 1 GiB, so even a file within the limits never fills the disk.

Operators override the defaults with the environment variables named below (read each time a file is
decompressed); tests pass small limits in.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ExportError, ExportFormatError

GIB = 1024**3
MIB = 1024**2

ENV_MAX_RATIO = "COSTLAKE_MAX_EXPANSION_RATIO"
ENV_MAX_GB = "COSTLAKE_MAX_EXPANDED_GB"
ENV_MIN_FREE_GB = "COSTLAKE_MIN_FREE_DISK_GB"

DEFAULT_MAX_RATIO = 100
DEFAULT_MAX_BYTES = 64 * GIB
DEFAULT_RATIO_FLOOR = 64 * MIB
DEFAULT_MIN_FREE_BYTES = 1 * GIB
# How often (in written bytes) the free space of the target disk is looked at.
_DISK_CHECK_EVERY = 64 * MIB


class CompressionBombError(ExportFormatError):
    """A compressed file expands past the limits: refused before it can fill the disk."""


class DiskSpaceError(ExportError):
    """Writing an expansion would leave the disk with less free space than ``min_free_bytes``."""


@dataclass(frozen=True)
class ExpansionLimits:
    max_ratio: float = DEFAULT_MAX_RATIO
    max_bytes: int = DEFAULT_MAX_BYTES
    ratio_floor: int = DEFAULT_RATIO_FLOOR
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ExportError(f"environment variable {name}={text!r} is not a number; unset it or give a number") from None
    if value <= 0:
        raise ExportError(f"environment variable {name}={text!r} must be greater than 0")
    return value


def expansion_limits() -> ExpansionLimits:
    """The limits in force: the defaults above, overridden by the environment."""
    return ExpansionLimits(
        max_ratio=_env_number(ENV_MAX_RATIO, DEFAULT_MAX_RATIO),
        max_bytes=int(_env_number(ENV_MAX_GB, DEFAULT_MAX_BYTES / GIB) * GIB),
        min_free_bytes=int(_env_number(ENV_MIN_FREE_GB, DEFAULT_MIN_FREE_BYTES / GIB) * GIB),
    )


def human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


class ExpansionGuard:
    """Counts the bytes one compressed file expands to and refuses past the limits, while streaming.

    ``disk``: the folder the expansion is written to (None when nothing is written)."""

    def __init__(self, described: str, compressed_size: int, limits: ExpansionLimits | None = None,
                 *, disk: Path | None = None):
        self.described = described
        self.compressed_size = max(int(compressed_size), 1)
        self.limits = limits or expansion_limits()
        self.disk = disk
        self.expanded = 0
        self._next_disk_check = 0
        by_ratio = max(self.limits.max_ratio * self.compressed_size, self.limits.ratio_floor)
        self.allowed = int(min(self.limits.max_bytes, by_ratio))
        self._ratio_bound = by_ratio < self.limits.max_bytes

    def add(self, size: int) -> None:
        self.expanded += size
        if self.expanded > self.allowed:
            if self._ratio_bound:
                beyond = (f"{self.limits.max_ratio:g}x its compressed size ({human(self.compressed_size)} -> more "
                          f"than {human(self.allowed)})")
                setting = ENV_MAX_RATIO
            else:
                beyond = f"{human(self.allowed)}"
                setting = ENV_MAX_GB
            raise CompressionBombError(
                f"{self.described}: expands beyond {beyond}: refusing a possible compression bomb. Re-running "
                f"cannot change this; if the file is a genuine export, raise {setting} (docs/operations.md). "
                "The last good data is kept."
            )
        if self.disk is not None and self.expanded >= self._next_disk_check:
            self._next_disk_check = self.expanded + _DISK_CHECK_EVERY
            check_free_space(self.disk, self.described, self.limits)


def check_free_space(folder: Path, described: str, limits: ExpansionLimits | None = None) -> None:
    limits = limits or expansion_limits()
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < limits.min_free_bytes:
        raise DiskSpaceError(
            f"{described}: stopped expanding it into {folder}: the disk has {human(free)} free, less than the "
            f"{human(limits.min_free_bytes)} costlake keeps free ({ENV_MIN_FREE_GB}). Free some space and re-run; "
            "the last good data is kept."
        )


__all__ = [
    "CompressionBombError",
    "DiskSpaceError",
    "ExpansionGuard",
    "ExpansionLimits",
    "check_free_space",
    "expansion_limits",
    "human",
]
