"""Access tokens and ``appsecret_proof``, checked as the Graph API checks them.

A token may come in the ``Authorization`` header (``Bearer`` or ``OAuth``
scheme) or as the ``access_token`` parameter of the query or form. A
scenario lists the tokens it knows, each valid, expired (190/463) or
invalid (190/467), optionally expiring some time after the simulator
starts; a scenario that lists none accepts any token. ``APPID|SECRET`` is
the app's own token.

When the scenario's app has a secret, a proof sent along is verified in
either form: the plain HMAC-SHA256 of the token, or the timed form signing
``token|appsecret_time``, rejected when older than ``proof_max_age``. With
``require_proof`` a call without proof fails as on an app that has
"Require App Secret" switched on.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dqwatch.simulator.errors import GraphFault, graph_error
from dqwatch.simulator.specs import AppSettings, TokenSpec

__all__ = ["Credentials", "TokenBook"]

_DAY = 86400.0


@dataclass(frozen=True)
class Credentials:
    """The token and proof a request carried (never logged, never shown)."""

    token: str | None
    proof: str | None = None
    proof_time: str | None = None
    #: Whether the token came in the Authorization header.
    in_header: bool = False

    def __repr__(self) -> str:
        shown = "set" if self.token else None
        return f"Credentials(token={shown}, in_header={self.in_header})"

    @classmethod
    def read(cls, headers: Mapping[str, str], params: Mapping[str, str]) -> Credentials:
        """Take the credentials from a request's headers and parameters."""
        scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
        from_header = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
        token = from_header or params.get("access_token") or None
        return cls(
            token,
            params.get("appsecret_proof"),
            params.get("appsecret_time"),
            bool(from_header),
        )


class TokenBook:
    """The scenario's tokens and app secret, and the checks made with them."""

    def __init__(
        self,
        app: AppSettings,
        tokens: tuple[TokenSpec, ...],
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
    ) -> None:
        self.app = app
        self._tokens = {t.value.get_secret_value(): t for t in tokens}
        self._clock = clock
        self._wall_clock = wall_clock
        self._started = clock()
        self._wall_started = wall_clock()
        secret = app.secret.get_secret_value() if app.secret else None
        self._secret = secret
        self._app_token = f"{app.id}|{secret}" if secret else None

    def check(
        self, credentials: Credentials, *, proof: bool = True
    ) -> GraphFault | None:
        """The error a request with these credentials gets, or None if allowed.

        ``proof=False`` skips the proof check, for batch items whose batch
        was checked already.
        """
        token = credentials.token
        if not token:
            return graph_error(104)
        fault = self._token_fault(token)
        if fault is not None or not proof:
            return fault
        return self._proof_fault(credentials, token)

    def debug(self, input_token: str) -> dict[str, Any]:
        """The ``data`` object ``/debug_token`` answers for ``input_token``."""
        if input_token == self._app_token:
            return {
                "app_id": self.app.id,
                "type": "APP",
                "application": self.app.name,
                "is_valid": True,
                "scopes": [],
            }
        spec = self._tokens.get(input_token)
        if spec is None and self._tokens:
            return {
                "error": {"code": 190, "message": graph_error(190).message},
                "is_valid": False,
                "scopes": [],
            }
        data = self._describe(spec)
        fault = self._token_fault(input_token)
        if fault is not None:
            data["is_valid"] = False
            data["error"] = {
                "code": fault.code,
                "message": fault.message,
                "subcode": fault.subcode,
            }
        return data

    def _describe(self, spec: TokenSpec | None) -> dict[str, Any]:
        expires_at = self._expires_at(spec) if spec else 0
        scopes = list(spec.scopes) if spec else []
        system_user = spec is None or spec.type == "SYSTEM_USER"
        return {
            "app_id": self.app.id,
            "type": spec.type if spec else "SYSTEM_USER",
            "application": self.app.name,
            "data_access_expires_at": 0 if system_user else expires_at,
            "expires_at": expires_at,
            "is_valid": True,
            "issued_at": int(self._wall_started - _DAY),
            "scopes": scopes,
            "granular_scopes": [{"scope": scope} for scope in scopes],
            "user_id": spec.user_id if spec else "100000000000001",
        }

    def _expires_at(self, spec: TokenSpec) -> int:
        """Unix time the token expires (0: never), as debug_token reports it."""
        if spec.expires_in is not None:
            return int(self._wall_started + spec.expires_in)
        return int(self._wall_started - _DAY) if spec.status == "expired" else 0

    def _token_fault(self, token: str) -> GraphFault | None:
        if token == self._app_token or not self._tokens:
            return None
        spec = self._tokens.get(token)
        if spec is None:
            return graph_error(190)
        if spec.status == "invalid":
            return graph_error(190, 467)
        lapsed = (
            spec.expires_in is not None
            and self._clock() - self._started >= spec.expires_in
        )
        if spec.status == "expired" or lapsed:
            return graph_error(
                190,
                463,
                expired=_http_date(self._expires_at(spec)),
                now=_http_date(int(self._wall_clock())),
            )
        return None

    def _proof_fault(self, credentials: Credentials, token: str) -> GraphFault | None:
        if self._secret is None:
            return None
        if credentials.proof is None:
            if not self.app.require_proof:
                return None
            return _proof_error(
                "API calls from the server require an appsecret_proof argument"
            )
        message = token
        if credentials.proof_time is not None:
            if not self._fresh(credentials.proof_time):
                return _proof_error(
                    "Invalid appsecret_proof provided in the API argument"
                )
            message = f"{token}|{credentials.proof_time}"
        expected = hmac.new(self._secret.encode(), message.encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), credentials.proof.lower()):
            return _proof_error("Invalid appsecret_proof provided in the API argument")
        return None

    def _fresh(self, proof_time: str) -> bool:
        if not proof_time.isdigit():
            return False
        age = self._wall_clock() - int(proof_time)
        return abs(age) <= self.app.proof_max_age


def _proof_error(message: str) -> GraphFault:
    return graph_error(100, message=message, error_type="GraphMethodException")


def _http_date(unix: int) -> str:
    return time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime(unix))
