"""A small local OCI Object Storage server for the tests (no emulator exists on the package registries).

It answers the REST calls the oci SDK's ObjectStorageClient makes for the connector, serving a local
folder as one bucket of one namespace, over real HTTP on 127.0.0.1:

- GET  /n/{namespace}/b/{bucket}/o?prefix=&start=&limit=&fields=   ListObjects (paged: nextStartWith)
- GET  /n/{namespace}/b/{bucket}/o/{objectName}                    GetObject (content-length, etag)
- HEAD /n/{namespace}/b/{bucket}/o/{objectName}                    HeadObject

Every request must carry the SDK's HTTP signature (``Authorization: Signature ... keyId="tenancy/user/
fingerprint"``): the server checks it against the public key the test registered for that keyId and
answers 401 NotAuthenticated otherwise, as Object Storage does. Errors have Object Storage's JSON body
({"code", "message"}) and an opc-request-id header, so the SDK raises its real ServiceError.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_LIMIT = 1000


@dataclass
class ServerState:
    namespace: str
    bucket: str
    root: Path  # the folder served as the bucket
    public_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # keyId -> key
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) seen, for assertions
    lock: threading.Lock = field(default_factory=threading.Lock)
    truncate: set[str] = field(default_factory=set)  # object names served cut short (bad transfer)
    extra_names: list[str] = field(default_factory=list)  # listed though no file backs them (hostile names)


def _parse_signature(header: str) -> dict[str, str] | None:
    if not header.startswith("Signature "):
        return None
    return dict(re.findall(r'(\w+)="([^"]*)"', header[len("Signature ") :]))


class _Handler(BaseHTTPRequestHandler):
    server_version = "costlake-oci-objectstorage/1"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # keep-alive + Nagle would add ~40 ms to every small response

    @property
    def state(self) -> ServerState:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def _send_json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("opc-request-id", uuid.uuid4().hex)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"code": code, "message": message})

    def _authenticated(self) -> bool:
        """Verify the request's HTTP signature the way the SDK builds it (date, (request-target), host)."""
        params = _parse_signature(self.headers.get("authorization", ""))
        if not params or params.get("algorithm") != "rsa-sha256":
            return False
        key = self.state.public_keys.get(params.get("keyId", ""))
        if key is None:
            return False
        lines = []
        for name in params.get("headers", "date").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {self.command.lower()} {self.path}")
            else:
                value = self.headers.get(name)
                if value is None:
                    return False
                lines.append(f"{name}: {value}")
        try:
            key.verify(base64.b64decode(params.get("signature", "")), "\n".join(lines).encode("ascii"),
                       padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return True

    def _route(self) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path))
        if not self._authenticated():
            self._error(401, "NotAuthenticated", "The required information to complete authentication was not provided or was incorrect.")
            return
        url = urlsplit(self.path)
        match = re.match(r"^/n/([^/]+)/b/([^/]+)/o(?:/(.+))?$", url.path)
        if not match:
            self._error(404, "NotFound", f"no such API: {url.path}")
            return
        namespace, bucket, name = unquote(match.group(1)), unquote(match.group(2)), match.group(3)
        if namespace != self.state.namespace or bucket != self.state.bucket:
            self._error(404, "BucketNotFound", f"Either the bucket named '{bucket}' does not exist in the namespace "
                        f"'{namespace}' or you are not authorized to access it")
            return
        if name is None:
            if self.command != "GET":
                self._error(405, "MethodNotAllowed", "")
                return
            self._list(parse_qs(url.query))
        else:
            self._object(unquote(name))

    def _list(self, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        start = query.get("start", [None])[0]
        limit = min(int(query.get("limit", [str(MAX_LIMIT)])[0]), MAX_LIMIT)
        fields = set(query.get("fields", ["name"])[0].split(","))
        names = sorted(
            [p.relative_to(self.state.root).as_posix() for p in self.state.root.rglob("*") if p.is_file()]
            + self.state.extra_names
        )
        names = [n for n in names if n.startswith(prefix) and (start is None or n >= start)]
        page, rest = names[:limit], names[limit:]
        objects = []
        for name in page:
            path = self.state.root / name
            size, mtime = (path.stat().st_size, path.stat().st_mtime) if path.is_file() else (0, 0.0)
            item: dict[str, object] = {"name": name}
            if "size" in fields:
                item["size"] = size
            if "timeCreated" in fields:
                item["timeCreated"] = datetime.fromtimestamp(mtime, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if "etag" in fields:
                item["etag"] = hashlib.md5(name.encode() + str(size).encode()).hexdigest()
            objects.append(item)
        body: dict[str, object] = {"objects": objects, "prefixes": []}
        if rest:
            body["nextStartWith"] = rest[0]
        self._send_json(200, body)

    def _object(self, name: str) -> None:
        path = self.state.root / name
        if ".." in Path(name).parts or not path.is_file():
            self._error(404, "ObjectNotFound", f"The object '{name}' was not found in the bucket '{self.state.bucket}'")
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(data)))
        self.send_header("etag", hashlib.md5(data).hexdigest())
        self.send_header("last-modified", formatdate(path.stat().st_mtime, usegmt=True))
        self.send_header("opc-request-id", uuid.uuid4().hex)
        self.end_headers()
        if self.command == "GET":
            if name in self.state.truncate:
                # The connection drops mid-body: the client sees fewer bytes than content-length.
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(data)

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()


@dataclass(frozen=True)
class ApiKey:
    """A throwaway RSA key written as a PEM file, with its OCI fingerprint (MD5 of the DER public key)."""

    path: Path
    fingerprint: str
    public_key: rsa.RSAPublicKey


def make_api_key(folder: Path, name: str = "oci_api_key.pem") -> ApiKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    path = folder / name
    path.write_bytes(pem)
    path.chmod(0o600)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.md5(der).hexdigest()
    return ApiKey(path, ":".join(digest[i : i + 2] for i in range(0, 32, 2)), private.public_key())


@contextmanager
def object_storage_server(namespace: str, bucket: str, root: Path) -> Iterator[tuple[str, ServerState]]:
    """Serve ``root`` as bucket ``bucket`` in ``namespace`` on 127.0.0.1:<free port>; yield (endpoint, state)."""
    state = ServerState(namespace, bucket, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oci-objectstorage",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
