"""``dqwatch demo``: the daemon against a local simulator, no account or token.

Starts, all on 127.0.0.1:

- the Graph API simulator with the packaged ``demo`` scenario, in which
  Acme web shop degrades over two minutes and recovers a minute later;
- a mail catcher (an SMTP server that saves every message it receives as an
  ``.eml`` file);
- the daemon itself, polling every 10 seconds, with a console channel (alerts
  print here) and an email channel (alerts land in the mail folder), and
  its status page.

Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from dqwatch.daemon import Daemon
from dqwatch.simulator import Simulator, packaged_scenario

log = logging.getLogger(__name__)

CONFIG = """\
# Written by `dqwatch demo`. Copy it as a starting point for your own.
[graph]
base_url = "{url}"
access_token = "sim-token"
max_retries = 1

[storage]
path = "demo.db"

[poll]
interval = "10s"
jitter = "2s"

[[dataset]]
id = "1001"
name = "Acme web shop"
owner = "acme"
sources = ["web", "offline"]

[[dataset]]
id = "1002"
name = "Acme blog"
owner = "acme"

[[discover]]
business_id = "777000000001"
owner = "globex"
sources = ["web", "offline"]

[[route]]
to = ["console", "acme-mail"]

[channel.console]
type = "console"
repeat_interval = "1h"

[channel.acme-mail]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
from = "dqwatch@demo.example"
to = ["marketing@acme.example"]
owners = ["acme"]

[web]
listen = "127.0.0.1:{web_port}"
"""

GUIDE = """
dqwatch demo is running; Ctrl-C stops it.

  status page   {web}
  metrics       {web}/metrics
  health        {web}/healthz
  mail folder   {mail}  (one .eml file per email)
  config        {config}

What to watch for: the first polls find problems that are already there
(event coverage under 75% at Acme, an offline score under 8.5 at Globex) and
a dataset the token may not read. From about 30 seconds on, Acme web shop
degrades: EMQ drops, the phone match key is lost, coverage falls under 75%,
freshness slips to hourly, a new diagnostic appears, the offline score falls.
From about 3 minutes on it recovers and the alerts resolve.
"""


class _SaveMail:
    """An aiosmtpd handler that writes each message to a numbered .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        path = self.folder / f"{self.count:04d}.eml"
        await asyncio.to_thread(path.write_bytes, envelope.original_content)
        log.info("mail catcher: saved %s", path.name)
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_demo(folder: Path, web_port: int) -> int:
    """Run the demo until Ctrl-C; return the exit code. ``folder`` must exist."""
    mail = folder / "mail"
    await asyncio.to_thread(mail.mkdir, exist_ok=True)
    catcher = Controller(_SaveMail(mail), hostname="127.0.0.1", port=free_port())
    catcher.start()
    try:
        simulator = Simulator(packaged_scenario("demo"))
        async with simulator.running() as url:
            config = folder / "dqwatch.toml"
            text = CONFIG.format(url=url, smtp_port=catcher.port, web_port=web_port)
            await asyncio.to_thread(config.write_text, text)
            await asyncio.to_thread((folder / "demo.db").unlink, missing_ok=True)
            daemon = Daemon(config)
            print(
                GUIDE.format(
                    web=f"http://127.0.0.1:{web_port}", mail=mail, config=config
                ),
                flush=True,
            )
            with contextlib.suppress(asyncio.CancelledError):
                return await daemon.run()
    finally:
        catcher.stop()
    return 0
