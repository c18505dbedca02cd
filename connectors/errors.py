"""Connector errors. Each message names the file/object and says what to do about it."""


class ExportError(Exception):
    """Base: an export could not be read. The last good bronze data is left in place."""


class ExportNotFoundError(ExportError):
    """A manifest, data file, bucket or folder that should exist does not."""


class ExportAccessError(ExportError):
    """Access denied or the store could not be reached."""


class ExportFormatError(ExportError):
    """A file exists but its content is not a readable export (truncated, missing columns, bad values)."""


class UnsafeKeyError(ExportError):
    """An object key that would escape the export root (e.g. contains '..')."""


class RestatementShrinkError(ExportError):
    """A new load would replace a month's bronze with far fewer rows (or none): held back as suspicious.
    The month keeps its last good data until the shrink is accepted (per run, or by the registry's limit)."""
