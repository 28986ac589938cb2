"""The `[bos]` settings: an S3-compatible endpoint, its keys, and how outputs are synced."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

ADDRESSING_STYLES = ("auto", "path", "virtual")
CHECKSUM_MODES = ("when_required", "when_supported")
ENVIRONMENT = {
    "endpoint": "BMLOCAL_BOS_ENDPOINT",
    "access_key": "BMLOCAL_BOS_ACCESS_KEY",
    "secret_key": "BMLOCAL_BOS_SECRET_KEY",
    "region": "BMLOCAL_BOS_REGION",
    "sync_interval_seconds": "BMLOCAL_BOS_SYNC_INTERVAL_SECONDS",
    "addressing_style": "BMLOCAL_BOS_ADDRESSING_STYLE",
    "final_sync_timeout_seconds": "BMLOCAL_BOS_FINAL_SYNC_TIMEOUT_SECONDS",
    "checksums": "BMLOCAL_BOS_CHECKSUMS",
}
# SigV4 needs a region; S3-compatible stores that ignore it accept the AWS default.
DEFAULT_REGION = "us-east-1"
DEFAULT_SYNC_INTERVAL = 5.0
DEFAULT_FINAL_SYNC_TIMEOUT = 120.0


@dataclass(frozen=True)
class BosSettings:
    """The `[bos]` table; the keys are left out of repr so that they never reach a log."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str | None = None
    sync_interval_seconds: float = DEFAULT_SYNC_INTERVAL
    addressing_style: str = "auto"
    final_sync_timeout_seconds: float = DEFAULT_FINAL_SYNC_TIMEOUT
    # botocore >= 1.36 adds CRC checksums by default, which several S3-compatible stores
    # reject: by default they are sent only where an operation requires one.
    checksums: str = "when_required"


def bos_settings(table: Mapping, environ: Mapping[str, str]) -> BosSettings | None:
    """Settings from the `[bos]` TOML table, each key overridden by its BMLOCAL_BOS_*
    variable; None when no endpoint is configured. ValueError names a bad key, never its value."""
    unknown = sorted(set(table) - set(ENVIRONMENT))
    if unknown:
        raise ValueError(f"unknown key(s) in [bos]: {', '.join(unknown)}")
    values = {name: environ.get(var) or table.get(name) for name, var in ENVIRONMENT.items()}
    if not values["endpoint"]:
        return None
    return BosSettings(
        endpoint=_endpoint(values["endpoint"]),
        access_key=_required(values, "access_key"),
        secret_key=_required(values, "secret_key"),
        region=_optional(values, "region"),
        sync_interval_seconds=_seconds(values, "sync_interval_seconds", DEFAULT_SYNC_INTERVAL),
        addressing_style=_style(values["addressing_style"]),
        final_sync_timeout_seconds=_seconds(values, "final_sync_timeout_seconds",
                                            DEFAULT_FINAL_SYNC_TIMEOUT),
        checksums=_checksums(values["checksums"]),
    )


def _endpoint(value: object) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("bos.endpoint must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "bos.endpoint may not hold credentials; use bos.access_key and bos.secret_key"
        )
    return value.rstrip("/")


def _required(values: dict, name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"bos.{name} is required with bos.endpoint")
    return value


def _optional(values: dict, name: str) -> str | None:
    value = values[name]
    if value is not None and not isinstance(value, str):
        raise ValueError(f"bos.{name} must be a string")
    return value or None


def _seconds(values: dict, name: str, default: float) -> float:
    value = values[name]
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bos.{name} must be a number") from None
    if not 0 < seconds < math.inf or isinstance(value, bool):
        raise ValueError(f"bos.{name} must be a positive number")
    return seconds


def _checksums(value: object) -> str:
    mode = value or "when_required"
    if mode not in CHECKSUM_MODES:
        raise ValueError(f"bos.checksums must be one of {', '.join(CHECKSUM_MODES)}")
    return mode


def _style(value: object) -> str:
    style = value or "auto"
    if style not in ADDRESSING_STYLES:
        raise ValueError(f"bos.addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
    return style
