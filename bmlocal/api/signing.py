"""bce-auth-v1 signed requests, checked with the signer of the cloud's own SDK.

`authorization: bce-auth-v1/{AK}/{timestamp}/{expiration}/{signed;headers}/{signature}`: the
expected signature is computed by bce-python-sdk's `bce_v1_signer.sign` from the request's
method, path, query and headers, exactly as a client's SDK computed it, and compared in
constant time. Only the standard library and that SDK: no Flask here.
"""
import calendar
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Mapping

from baidubce import utils
from baidubce.auth import bce_v1_signer
from baidubce.auth.bce_credentials import BceCredentials

SCHEME = "bce-auth-v1"
MAX_SKEW_S = 15 * 60
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# The SDK's signer logs its derived signing key at DEBUG: never let that reach a log.
logging.getLogger(bce_v1_signer.__name__).setLevel(logging.INFO)


class SignatureError(Exception):
    """Why a signed request is refused (for the server's log; the caller gets error 14)."""


@dataclass(frozen=True)
class Authorization:
    ak: str
    timestamp: str            # as signed, e.g. 2026-12-04T16:50:00Z
    expiration_s: int
    signed_headers: list[str]  # lower-case names; [] means the SDK's default set
    signature: str

    @property
    def epoch(self) -> int:
        return calendar.timegm(time.strptime(self.timestamp, TIME_FORMAT))


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str                  # decoded, as the router sees it
    query: Mapping[str, str]
    headers: Mapping[str, str]
    authorization: str


def is_signed(authorization: str | None) -> bool:
    return bool(authorization) and authorization.strip().startswith(SCHEME + "/")


def parse(authorization: str) -> Authorization:
    parts = authorization.strip().split("/")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise SignatureError("an authorization header not of the form bce-auth-v1/AK/"
                             "TIMESTAMP/EXPIRATION/SIGNED_HEADERS/SIGNATURE")
    _, ak, timestamp, expiration, signed, signature = parts
    try:
        found = Authorization(ak, timestamp, int(expiration),
                              [h.strip().lower() for h in signed.split(";") if h.strip()],
                              signature)
        found.epoch  # noqa: B018 - a timestamp that does not parse is refused here
    except ValueError:
        raise SignatureError("a bad timestamp or expiration in the authorization") from None
    if found.expiration_s <= 0:
        raise SignatureError("a non-positive expiration in the authorization")
    return found


def check_time(auth: Authorization, headers: Mapping[str, str], now: float) -> None:
    """Within its expiration, not more than 15 minutes ahead; an x-bce-date header, when
    sent, within 15 minutes of now."""
    if now > auth.epoch + auth.expiration_s:
        raise SignatureError(f"signature expired ({auth.timestamp} + {auth.expiration_s} s)")
    if auth.epoch > now + MAX_SKEW_S:
        raise SignatureError(f"signature timestamp {auth.timestamp} is in the future")
    date = _header(headers, "x-bce-date")
    if date is None:
        return
    try:
        sent = calendar.timegm(time.strptime(date.strip(), TIME_FORMAT))
    except ValueError:
        raise SignatureError("x-bce-date is not a UTC time like 2026-01-02T03:04:05Z") from None
    if abs(now - sent) > MAX_SKEW_S:
        raise SignatureError(f"x-bce-date {date} is more than 15 minutes from now")


def verify(request: SignedRequest, auth: Authorization, secret: str) -> bool:
    """Whether `auth.signature` is the SDK's signature of `request` with this key. The host
    is tried as sent and without its port (some of the cloud's SDKs sign it so)."""
    credentials = BceCredentials(auth.ak, secret)
    path = utils.normalize_string(request.path, False)
    for headers in _header_variants(request.headers):
        expected = bce_v1_signer.sign(
            credentials, request.method.upper().encode(), path, headers, dict(request.query),
            timestamp=auth.epoch, expiration_in_seconds=auth.expiration_s,
            headers_to_sign=[h.encode() for h in auth.signed_headers] or None)
        if hmac.compare_digest(expected.rsplit(b"/", 1)[-1], auth.signature.encode()):
            return True
    return False


def _header_variants(headers: Mapping[str, str]) -> list[dict[bytes, bytes]]:
    sent = {k.encode("latin-1"): v.encode("latin-1") for k, v in headers.items()
            if k.lower() != "authorization"}
    variants = [sent]
    host = _header(headers, "host")
    if host and ":" in host and not host.endswith("]"):
        variants.append({k: (host.rsplit(":", 1)[0].encode("latin-1")
                             if k.lower() == b"host" else v) for k, v in sent.items()})
    return variants


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)
