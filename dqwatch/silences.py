"""Managing silences from the command line: add, list, expire."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

from dqwatch.alerts import SILENCE_MATCHERS, Silence
from dqwatch.durations import parse_duration
from dqwatch.output import table
from dqwatch.store import Store


class SilenceInputError(ValueError):
    """A silence command was given something it cannot use; says the fix."""


def matchers_from(values: Mapping[str, str | None]) -> dict[str, str]:
    """The matchers given on the command line; at least one is required."""
    matchers = {k: v for k, v in values.items() if k in SILENCE_MATCHERS and v}
    if not matchers:
        options = ", ".join(f"--{name}" for name in SILENCE_MATCHERS)
        raise SilenceInputError(
            f"a silence needs at least one matcher; give one of {options}"
        )
    return matchers


def window(duration: str, now: float) -> tuple[float, float]:
    """(starts, ends) of a silence lasting ``duration`` from ``now``."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise SilenceInputError(f"--duration: {exc}") from None
    if seconds <= 0:
        raise SilenceInputError("--duration must be longer than zero, e.g. 2h")
    return now, now + seconds


async def add(
    store: Store,
    matchers: Mapping[str, str],
    duration: str,
    comment: str,
    author: str,
    now: float | None = None,
) -> Silence:
    """Store a new silence and return it."""
    starts, ends = window(duration, time.time() if now is None else now)
    silence_id = await store.add_silence(matchers, starts, ends, comment, author)
    return Silence(silence_id, dict(matchers), starts, ends, comment, author)


def render(silences: Sequence[Silence], now: float, as_json: bool) -> str:
    """Silences as a table (or JSON), with whether each is active now."""
    if as_json:
        return json.dumps(
            [
                {
                    "id": s.id,
                    "matchers": dict(s.matchers),
                    "starts": s.starts,
                    "ends": s.ends,
                    "active": s.active(now),
                    "comment": s.comment,
                    "author": s.author,
                }
                for s in silences
            ],
            indent=2,
        )
    if not silences:
        return "no silences"
    rows = [("ID", "STATE", "ENDS (UTC)", "MATCHERS", "AUTHOR", "COMMENT")]
    for s in silences:
        state = (
            "active" if s.active(now) else ("pending" if s.starts > now else "expired")
        )
        matchers = " ".join(f"{k}={v}" for k, v in sorted(s.matchers.items()))
        ends = time.strftime("%Y-%m-%d %H:%M", time.gmtime(s.ends))
        rows.append((str(s.id), state, ends, matchers, s.author, s.comment))
    return "\n".join(table(rows))
