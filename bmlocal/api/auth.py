"""OAuth client-credentials tokens, bce-auth-v1 signed requests, and the project permissions
of each key."""
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from werkzeug.wrappers import Request

from bmlocal.api.signing import (SignatureError, SignedRequest, check_time, is_signed, parse,
                                 verify)
from bmlocal.config import Credential
from bmlocal.errors import ApiError
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.store import Store

log = logging.getLogger("bmlocal.api")
MAX_KEPT_TOKENS = 10_000


@dataclass(frozen=True)
class TokenError(Exception):
    """An answer of the token endpoint other than a token: HTTP status and body."""
    status: int
    body: dict


def digest(token: str) -> str:
    """Tokens are kept only as digests: a copy of the database grants nothing."""
    return hashlib.sha256(token.encode()).hexdigest()


class Auth:
    def __init__(self, credentials: tuple[Credential, ...], store: Store, clock: Clock,
                 ttl_seconds: int) -> None:
        self.keys = {c.ak: c for c in credentials}
        self.store = store
        self.clock = clock
        self.ttl = ttl_seconds
        self._tokens: dict[str, tuple[str, float]] = {}

    @property
    def open(self) -> bool:
        """No credentials configured: any token is accepted (loopback only)."""
        return not self.keys

    def issue(self, grant_type: str | None, ak: str | None, sk: str | None) -> dict:
        if grant_type != "client_credentials":
            raise TokenError(400, {"error": "unsupported_grant_type"})
        if not self.open:
            key = self.keys.get(ak or "")
            if key is None:
                raise TokenError(401, {"error": "invalid_client",
                                       "error_description": "unknown client id"})
            if not hmac.compare_digest(key.sk.encode(), (sk or "").encode()):
                raise TokenError(401, {"error": "invalid_client",
                                       "error_description": "Client authentication failed"})
        token = f"24.{secrets.token_hex(16)}.{self.ttl}.{int(self.clock.now())}"
        self.store.save_token(digest(token), ak or "", self.clock.now() + self.ttl)
        return {"access_token": token, "expires_in": self.ttl,
                "refresh_token": f"25.{secrets.token_hex(16)}",
                "scope": "public brain_all_scope", "session_key": secrets.token_hex(16),
                "session_secret": secrets.token_hex(16)}

    def check_request(self, request: Request) -> Credential | None:
        """The caller's key, from `?access_token=` or, without one, a bce-auth-v1 signature."""
        if self.open:  # any token and any signature are accepted: nothing to read
            return None
        token = request.args.get("access_token")
        authorization = request.headers.get("authorization")
        if token is None and is_signed(authorization):
            return self.check_signed(SignedRequest(
                request.method, request.path, request.args.to_dict(), dict(request.headers),
                authorization or ""))
        return self.check_token(token)

    def check_token(self, token: str | None) -> Credential | None:
        """The key behind a valid token (None when auth is open); 110 or 111 otherwise."""
        if self.open:
            return None
        found = self._token(token) if token else None
        if found is None or found[0] not in self.keys:
            raise ApiError(110)
        if found[1] <= self.clock.now():
            raise ApiError(111)
        return self.keys[found[0]]

    def _token(self, token: str) -> tuple[str, float] | None:
        """(ak, expiry) of a token this server issued; known ones are kept in memory (a
        token is never changed or revoked, only expires), the others read from the store."""
        key = digest(token)
        found = self._tokens.get(key)
        if found is None:
            found = self.store.token(key)
            if found is not None and len(self._tokens) < MAX_KEPT_TOKENS:
                self._tokens[key] = found
        return found

    def check_signed(self, request: SignedRequest) -> Credential | None:
        """The key that signed `request` (None when auth is open); 14 otherwise."""
        if self.open:
            return None
        try:
            auth = parse(request.authorization)
            key = self.keys.get(auth.ak)
            if key is None:
                raise SignatureError("unknown access key")
            check_time(auth, request.headers, self.clock.now())
            if not verify(request, auth, key.sk):
                raise SignatureError("signature does not match")
        except SignatureError as exc:
            log.info("signed request refused: %s", exc)
            raise ApiError(14) from None
        return key

    @staticmethod
    def check_project(key: Credential | None, project: str) -> None:
        if key is not None and not key.allows(project):
            raise ApiError(406037)
