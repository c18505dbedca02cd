"""Object stores as the connectors see them: list keys, fetch an object to a local file.

A local folder "laid out exactly like the bucket" goes through the same interface as S3, so the
code that finds manifests and data files is the same for both and tested on both.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from connectors.errors import ExportAccessError, ExportNotFoundError, UnsafeKeyError
from connectors.limits import ExpansionGuard, ExpansionLimits


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str | None = None


def check_key(key: str, where: str) -> str:
    """Refuse keys that could escape the bucket/folder root once used as a local path."""
    parts = PurePosixPath(key).parts
    if ".." in parts or "\\" in key or "\x00" in key:
        raise UnsafeKeyError(
            f"{where}: object key {key!r} contains '..' or another path trick; refusing to read it. "
            "Check who can write to this export location."
        )
    return key.lstrip("/")


def inside_root(path: Path, root: Path, where: str) -> Path:
    """``path`` with its symbolic links resolved, refused when that leaves ``root`` (a link to /etc/passwd,
    a linked folder elsewhere, '..' after resolution): a local export folder is read, never what it links to."""
    resolved = path.resolve()
    base = root.resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafeKeyError(
            f"{where}: resolves to {resolved}, outside the registered folder {root} (a symbolic link or '..'); "
            "refusing to read it. Remove the link, or copy the file into the folder."
        )
    return resolved


def walk_files(root: Path, base: Path) -> Iterator[Path]:
    """Every file under ``base`` (a folder inside ``root``), sorted per folder, links checked by ``inside_root``.

    Linked folders are never descended into (a link inside the folder names data that is listed under its
    own path anyway); one that leads outside ``root`` is refused by name, like a linked file."""
    for dirpath, dirnames, filenames in os.walk(base):
        folder = Path(dirpath)
        for name in list(dirnames):
            if (folder / name).is_symlink():
                inside_root(folder / name, root, str(folder / name))
                dirnames.remove(name)
        dirnames.sort()
        for filename in sorted(filenames):
            path = folder / filename
            if path.is_symlink():
                inside_root(path, root, str(path))
            yield path


class ObjectStore(Protocol):
    """What connectors need from a bucket or a local folder laid out like one."""

    @property
    def uri(self) -> str: ...

    def describe(self, key: str) -> str: ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]: ...

    def list_prefixes(self, prefix: str) -> list[str]: ...

    def read_bytes(self, key: str) -> bytes: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def local_path(self, key: str, scratch: Path) -> Path:
        """A local file with the object's bytes: the object itself (folders) or a download into scratch."""
        ...


class LocalStore:
    """A local folder that mirrors a bucket: key 'a/b/c' is file '<root>/a/b/c'."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @property
    def uri(self) -> str:
        return f"file://{self.root}"

    def describe(self, key: str) -> str:
        return str(self.root / key)

    def _path(self, key: str) -> Path:
        """The file or folder of ``key``, links resolved; never outside the root (see ``inside_root``)."""
        key = check_key(key, self.describe(key))
        return inside_root(self.root / key, self.root, self.describe(key))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        # A prefix may end mid-name ('exports/acme'), like S3: walk its parent and filter.
        base = self.root / check_key(prefix, self.describe(prefix)) if prefix else self.root
        walk_root = base if base.is_dir() else base.parent
        if not walk_root.is_dir():
            return
        inside_root(walk_root, self.root, str(walk_root))
        for path in walk_files(self.root, walk_root):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and ".tmp-" not in path.name:
                stat = path.stat()
                yield ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def _check_root(self) -> None:
        # The folder standing for the bucket must exist, like a bucket: otherwise a wrong path in the
        # registry would read as "no export delivered yet" instead of failing.
        if not self.root.is_dir():
            raise ExportNotFoundError(f"{self.root}: folder not found; check 'bucket' in the registry")

    def list_prefixes(self, prefix: str) -> list[str]:
        self._check_root()
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return []
        found = []
        for child in base.iterdir():
            if child.is_dir():
                inside_root(child, self.root, str(child))
                found.append((PurePosixPath(prefix) / child.name).as_posix() + "/" if prefix else child.name + "/")
        return sorted(found)

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ExportNotFoundError(f"{self.describe(key)}: file not found") from None
        except PermissionError:
            raise ExportAccessError(f"{self.describe(key)}: permission denied; make the file readable by costlake") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not path.is_file():
            self._check_root()
            return None
        stat = path.stat()
        return ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def local_path(self, key: str, scratch: Path) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise ExportNotFoundError(f"{self.describe(key)}: file not found")
        return path


class S3Store:
    """An S3 bucket (or S3-compatible endpoint) through boto3, with paginated listing."""

    def __init__(self, bucket: str, client: Any):
        self.bucket = bucket
        self.client = client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}"

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, key: str, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            where = self.describe(key)
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ExportNotFoundError(f"{where}: object not found") from None
            if code == "NoSuchBucket":
                raise ExportNotFoundError(f"s3://{self.bucket}: bucket not found; check 'bucket' in the registry") from None
            if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ExportAccessError(
                    f"{where}: access denied ({code}); the credentials need s3:ListBucket on the bucket and "
                    "s3:GetObject on the export prefix"
                ) from None
            raise ExportAccessError(f"{where}: S3 {operation} failed: {code or error}") from None
        except BotoCoreError as error:
            raise ExportAccessError(f"{self.describe(key)}: cannot reach S3: {error}") from None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(prefix, "list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], item["Size"], item["LastModified"], item.get("ETag", "").strip('"'))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_prefixes(self, prefix: str) -> list[str]:
        prefixes: list[str] = []
        token: str | None = None
        base = prefix.rstrip("/") + "/" if prefix else ""
        while True:
            kwargs: dict[str, Any] = {"Prefix": base, "Delimiter": "/"}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(base, "list_objects_v2", **kwargs)
            prefixes.extend(item["Prefix"] for item in page.get("CommonPrefixes", []))
            if not page.get("IsTruncated"):
                return sorted(prefixes)
            token = page["NextContinuationToken"]

    def read_bytes(self, key: str) -> bytes:
        check_key(key, self.describe(key))
        return self._call(key, "get_object", Key=key)["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        check_key(key, self.describe(key))
        try:
            meta = self._call(key, "head_object", Key=key)
        except ExportNotFoundError:
            # A HEAD error has no body, so a missing bucket is a bare 404 too: ask with a call whose
            # error says NoSuchBucket, so a wrong bucket name fails instead of reading as "not delivered".
            self._call(key, "list_objects_v2", Prefix=key, MaxKeys=1)
            return None
        return ObjectInfo(key, meta["ContentLength"], meta["LastModified"], meta.get("ETag", "").strip('"'))

    def local_path(self, key: str, scratch: Path) -> Path:
        check_key(key, self.describe(key))
        target = scratch / key
        with download_to(target) as out:
            body = self._call(key, "get_object", Key=key)["Body"]
            shutil.copyfileobj(body, out, length=8 * 1024 * 1024)
        return target


@contextmanager
def download_to(target: Path) -> Iterator[BinaryIO]:
    """A file to stream a download into: a temporary file beside ``target`` that replaces it only when the
    block ends without an error, and is removed otherwise. An object can be gigabytes, so it is written
    in chunks and never held in memory, and a cut transfer never leaves a partial file under its name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    os.close(handle)
    try:
        with open(temp_name, "wb") as out:
            yield out
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def gzip_damage(local: Path, described: str | None = None, limits: ExpansionLimits | None = None) -> str | None:
    """What is wrong with a local .gz file's stream, or None (also for files that are not .gz).

    DuckDB reads a gzip stream that is cut short without an error (the partial last line pads out with
    NULLs or is dropped), so a half-written or truncated object would load as a smaller month. Every
    reader therefore decompresses a .gz once to its end before loading it. That pass also bounds the
    expansion (connectors/limits.py): a gzip bomb raises CompressionBombError, it is not "truncated"."""
    if not local.name.lower().endswith(".gz"):
        return None
    guard = ExpansionGuard(described or str(local), local.stat().st_size, limits)
    try:
        with gzip.open(local, "rb") as stream:
            while chunk := stream.read(8 * 1024 * 1024):
                guard.add(len(chunk))
    except (OSError, EOFError, zlib.error) as error:
        return f"gzip stream is truncated or corrupt ({error})"
    return None

