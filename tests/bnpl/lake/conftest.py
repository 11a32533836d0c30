"""The lake's tests run against a local S3: moto in server mode, started here as a subprocess on a
free port and reached through real boto3 HTTP, as the S3 backend reaches AWS."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.decisioning.conftest import champion, credit_model  # noqa: F401  (fixtures for the loan tape)

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=url, **CREDENTIALS)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.list_buckets()
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the moto server did not start")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class S3Lake:
    endpoint: str
    bucket: str
    client: Any  # boto3 S3 client

    def object_keys(self) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)

    def body(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def sha256(self, key: str) -> str:
        return hashlib.sha256(self.body(key)).hexdigest()

    def environment(self) -> dict[str, str]:
        """What a subprocess needs to export to this bucket."""
        return {
            "LAKE_S3_BUCKET": self.bucket,
            "LAKE_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }


def s3_storage_settings(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": CREDENTIALS["aws_access_key_id"],
            "secret_key": CREDENTIALS["aws_secret_access_key"],
            "region_name": CREDENTIALS["region_name"],
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": False,
        },
    }


@pytest.fixture
def s3_lake(settings: Any, moto_server: str) -> S3Lake:
    """A fresh bucket on the local S3, and STORAGES["lake"] pointing at it."""
    bucket = f"lake-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=moto_server, **CREDENTIALS)
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {**settings.STORAGES, "lake": s3_storage_settings(moto_server, bucket)}
    settings.LAKE_S3_BUCKET = bucket
    return S3Lake(endpoint=moto_server, bucket=bucket, client=client)
