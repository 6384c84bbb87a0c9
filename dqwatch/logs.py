"""Logging set-up: readable lines for people, one JSON object per line for machines.

Everything logs to stderr; stdout is kept for command results.
"""

from __future__ import annotations

import json
import logging
import sys
import time


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, ensure_ascii=False)


def setup(level: str = "INFO", fmt: str = "text") -> None:
    """Send dqwatch's logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that narrate routine work at INFO: aiohttp's access log (every
    # simulator request), APScheduler (every tick, every second) and aiosmtpd
    # (every connection to the demo's mail catcher).
    for noisy in ("aiohttp.access", "apscheduler", "mail.log"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
