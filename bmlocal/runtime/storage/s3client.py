"""The boto3 client of an S3-compatible endpoint, and its errors told without secrets."""

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.exceptions import RetriesExceededError

from bmlocal.runtime.storage.base import StoreError
from bmlocal.runtime.storage.s3settings import DEFAULT_REGION, BosSettings

__all__ = ["StoreError", "make_client", "describe", "translated"]

MIN_SCRUBBED = 4
STORE_ERRORS = (BotoCoreError, ClientError, RetriesExceededError)
UNREACHABLE = (BotoConnectionError, ConnectionClosedError)
STORE_DOWN = (*UNREACHABLE, ReadTimeoutError)
# Transfers may wait on a slow store; the HEAD/LIST that `create` makes while a client
# waits for its answer may not: one attempt, answered or refused within about 5 s.
TRANSFER_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 60,
                     "retries": {"max_attempts": 3, "mode": "standard"}}
PROBE_TIMEOUTS = {"connect_timeout": 2, "read_timeout": 3,
                  "retries": {"total_max_attempts": 1, "mode": "standard"}}


def make_client(settings: BosSettings, connections: int, probe: bool = False) -> BaseClient:
    """An S3 client with bounded timeouts and retries; `probe`: the short ones for calls
    made inside an API request."""
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region or DEFAULT_REGION,
    )
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": _addressing(settings)},
        max_pool_connections=connections,
        request_checksum_calculation=settings.checksums,
        response_checksum_validation=settings.checksums,
        **(PROBE_TIMEOUTS if probe else TRANSFER_TIMEOUTS),
    )
    return session.client("s3", endpoint_url=settings.endpoint, config=config)


def _addressing(settings: BosSettings) -> str:
    """With "auto": path-style for an IP or localhost endpoint (bucket.127.0.0.1 resolves
    nowhere), else botocore's own choice, virtual-host for DNS-compatible buckets."""
    if settings.addressing_style != "auto":
        return settings.addressing_style
    host = urlsplit(settings.endpoint).hostname or ""
    if host == "localhost":
        return "path"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "auto"
    return "path"


def status_of(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


@contextmanager
def translated(settings: BosSettings) -> Iterator[None]:
    """botocore's and s3transfer's errors as StoreError."""
    try:
        yield
    except STORE_ERRORS as exc:
        raise StoreError(describe(exc, settings)) from None


def describe(exc: BaseException, settings: BosSettings) -> str:
    endpoint = settings.endpoint
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        text = f"store timed out at {endpoint}"
    elif isinstance(exc, UNREACHABLE):
        text = f"store unreachable at {endpoint}"
    elif isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code") or status_of(exc)
        text = f"store refused {exc.operation_name}: {code}"
    elif isinstance(exc, OSError) and not isinstance(exc, BotoCoreError):
        text = exc.strerror or str(exc)  # a local file's error: never its host path
    else:
        text = f"store error at {endpoint}: {type(exc).__name__}"
    return scrub(text, settings)


def scrub(text: str, settings: BosSettings) -> str:
    """The server picks error codes; make sure none echoes a key back (keys too short
    to be real ones are left alone: scrubbing them would garble every message)."""
    for secret in (settings.secret_key, settings.access_key):
        if len(secret) >= MIN_SCRUBBED:
            text = text.replace(secret, "***")
    return text
