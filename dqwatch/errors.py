"""The one exception tree of dqwatch.

Every error a user can meet names what is wrong and how to fix it. Graph API
failures are split into transient ones (worth retrying) and permanent ones
(retrying cannot help), so callers decide by type, never by parsing text.
No exception message ever carries a secret: messages are built from
structured fields that the code fills, not from request URLs or headers.
"""

from __future__ import annotations

from dataclasses import dataclass


class DqwatchError(Exception):
    """Base class of every error dqwatch raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in a file a user edits, located as precisely as we can."""

    file: str
    line: int | None
    key: str
    message: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else None
        text = text or f"{where}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


class ProblemsError(DqwatchError):
    """A file (config, rules, templates, scenario) holds one or more problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(ProblemsError):
    """The configuration file is invalid."""


class RuleError(ProblemsError):
    """A rule file is invalid."""


class TemplateError(ProblemsError):
    """A notification template does not compile or render."""


class ScenarioError(ProblemsError):
    """A simulator scenario file is invalid."""


class StoreError(DqwatchError):
    """The SQLite store cannot be opened or written."""


class DeliveryError(DqwatchError):
    """A notification could not be delivered.

    ``retry_after`` is set when the receiver said how long to wait (Slack's
    ``Retry-After``). ``permanent`` marks failures retrying cannot fix (a
    revoked Slack token, a rejected recipient): the outbox stops retrying.
    Messages never carry a secret (tokens, webhook URLs, passwords).
    """

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        self.retry_after = retry_after
        self.permanent = permanent
        super().__init__(message)


class GraphError(DqwatchError):
    """A Graph API call failed.

    ``code``/``subcode`` are the API's own error numbers (0 when the failure
    happened before the API answered, as with a refused connection).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        subcode: int | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.error_type = error_type
        self.fbtrace_id = fbtrace_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"Graph API error {self.code}"]
        if self.subcode:
            parts[0] += f"/{self.subcode}"
        if self.http_status:
            parts.append(f"HTTP {self.http_status}")
        return f"{' '.join(parts)}: {self.message}"


class TransientGraphError(GraphError):
    """A failure that may pass: codes 1 and 2, 5xx answers, timeouts."""


class ThrottledError(TransientGraphError):
    """A rate limit answered (4, 17, 32, 613, 80000-80014) or is about to.

    ``retry_after`` is how many seconds the API (or our own usage governor)
    says to wait before this business may be called again.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        bucket: str = "",
        code: int = 0,
        subcode: int | None = None,
        http_status: int | None = None,
        error_type: str | None = None,
        fbtrace_id: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.bucket = bucket
        super().__init__(
            message,
            code=code,
            subcode=subcode,
            http_status=http_status,
            error_type=error_type,
            fbtrace_id=fbtrace_id,
        )


class PermanentGraphError(GraphError):
    """A failure that retrying cannot fix: 10, 100, 200-299, 2044055, 2500."""


class TokenError(PermanentGraphError):
    """The access token is expired, revoked or invalid (190, 102)."""


class MalformedResponseError(PermanentGraphError):
    """The API answered with a body we cannot read as the documented shape."""
