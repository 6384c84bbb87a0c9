"""``dqwatch demo``: the whole data path against a local simulator, no account needed.

Starts the simulator with the packaged basic scenario (whose datasets
degrade over a few polls and then recover), writes a config pointing at it,
and runs a cycle every few seconds, printing what each cycle polled and
which alerts changed. Ctrl-C stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from dqwatch.config import load_config
from dqwatch.cycle import Runtime, configured_rules, run_cycle
from dqwatch.output import cycle_table
from dqwatch.simulator import Simulator, packaged_scenario
from dqwatch.store import Store

log = logging.getLogger(__name__)

CONFIG = """\
# Written by `dqwatch demo`: the simulator's datasets, polled with the
# packaged default rules. Edit and rerun to try things out.
[graph]
base_url = "{url}"
access_token = "sim-token"
max_retries = 1

[storage]
path = "demo.db"

[[dataset]]
id = "1001"
name = "Acme web shop"
owner = "acme"
sources = ["web", "offline"]

[[dataset]]
id = "1002"
name = "Acme blog"
owner = "acme"

[[dataset]]
id = "2002"
name = "Globex retired pixel"
owner = "globex"

[[discover]]
business_id = "777000000001"
owner = "globex"
sources = ["web", "offline"]
"""


async def run_demo(folder: Path, interval: float, cycles: int) -> int:
    """Run the demo until Ctrl-C (or ``cycles`` cycles); return the exit code.

    ``folder`` must exist; the demo's config and database are written there.
    """
    simulator = Simulator(packaged_scenario("basic"))
    async with simulator.running() as url:
        config_path = folder / "dqwatch.toml"
        config_path.write_text(CONFIG.format(url=url))
        config = load_config(config_path)
        (folder / "demo.db").unlink(missing_ok=True)
        store = Store.open(config.storage.path)
        print(f"simulator: {url}\nconfig:    {config_path}\ndatabase:  {store.path}")
        print(f"a cycle every {interval:g}s; alerts fire and resolve within a few.")
        try:
            async with Runtime(config, configured_rules(config), store) as runtime:
                await runtime.adopt_rules()
                await _loop(runtime, interval, cycles)
        finally:
            store.close()
    return 0


async def _loop(runtime: Runtime, interval: float, cycles: int) -> None:
    number = 0
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        while cycles == 0 or number < cycles:
            number += 1
            report = await run_cycle(runtime)
            summaries = await runtime.store.summaries()
            print(f"\n== cycle {number} ==")
            print(cycle_table(report, summaries, report.transitions))
            if cycles == 0 or number < cycles:
                await asyncio.sleep(interval)
