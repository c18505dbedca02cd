"""A real moto S3 server on 127.0.0.1 (threaded, in this process, reached over HTTP) and helpers to fill it.

Nothing here talks to AWS: every client is pointed at the moto endpoint, and the AWS environment is
replaced with dummy values for the tests that use the server, then restored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
DUMMY_KEY_ID = "testing"
DUMMY_SECRET = "testing"

# Variables that could point boto3 at a real account or a real endpoint.
_AWS_VARS_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start moto's S3 (and IAM) server on a free port; yield 'http://127.0.0.1:<port>'."""
    no_aws_config = tmp_path_factory.mktemp("no-aws-config") / "absent"
    with pytest.MonkeyPatch.context() as env:
        for var in _AWS_VARS_TO_DROP:
            env.delenv(var, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
        env.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
        env.setenv("AWS_DEFAULT_REGION", REGION)
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        # No ~/.aws/config or credentials file of the developer's may leak in.
        env.setenv("AWS_CONFIG_FILE", str(no_aws_config))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_aws_config))
        # A proxy in the environment must not intercept calls to the local server.
        env.setenv("NO_PROXY", "127.0.0.1,localhost")
        env.setenv("no_proxy", "127.0.0.1,localhost")

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_client_for(endpoint: str, key_id: str = DUMMY_KEY_ID, secret: str = DUMMY_SECRET) -> Any:
    return boto3.session.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=REGION
    ).client(
        "s3",
        endpoint_url=endpoint,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=16),
    )


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    """A boto3 S3 client for setting up buckets (the code under test builds its own)."""
    return s3_client_for(moto_endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh, empty bucket per test (the server lives for the whole session)."""
    name = f"costlake-it-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def upload_tree(s3: Any, root: Path, bucket: str, keys: list[str] | None = None) -> list[str]:
    """Upload every file under ``root`` (or just ``keys``, relative to root) as key = relative path."""
    if keys is None:
        keys = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def put(key: str) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=(root / key).read_bytes())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))
    return keys


@pytest.fixture
def upload(s3: Any) -> Callable[..., list[str]]:
    """upload(root, bucket, keys=None) -> keys uploaded, over HTTP to the moto server."""

    def _upload(root: Path, bucket_name: str, keys: list[str] | None = None) -> list[str]:
        return upload_tree(s3, root, bucket_name, keys)

    return _upload
