"""Daemon benchmark: 10,000 datasets against a rate budget, time compressed.

The live case is a 15-minute poll interval against the API's one-hour
rolling window. Here both shrink by the same factor (default 45: a 20 s
interval, an 80 s window), so a few minutes stand for hours. The simulator
gives each of 100 businesses a budget a little below what polling all its
100 datasets on schedule would take, so the daemon must pace itself from the
usage headers.

Reported, over whole windows after a warm-up (the first pass over every
dataset, then one window):
- share of the budget used (target >= 90%) and throttling errors received
  (target 0);
- the daemon's resident memory at the end and its CPU share.

Usage: python bench/daemon.py [--datasets N] [--windows K] [--factor F]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from poll import ID_START, TOKEN, start_simulator

LIVE_INTERVAL = 900.0
LIVE_WINDOW = 3600.0
BUSINESSES = 100
#: The budget as a share of what polling on schedule would take.
BUDGET_SHARE = 0.9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=2, help="measured windows")
    parser.add_argument("--factor", type=float, default=45.0, help="time compression")
    args = parser.parse_args()
    print(json.dumps(run(args.datasets, args.windows, args.factor), indent=2))


def run(datasets: int, windows: int, factor: float) -> dict[str, Any]:
    interval = LIVE_INTERVAL / factor
    window = LIVE_WINDOW / factor
    per_business = datasets / BUSINESSES
    demand = per_business * window / interval  # calls per business per window
    budget = int(demand * BUDGET_SHARE)
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        scenario = base / "scenario.toml"
        scenario.write_text(
            SCENARIO.format(
                datasets=datasets,
                window=f"{window:g}s",
                budget=budget,
                businesses=BUSINESSES,
            )
        )
        simulator, url = start_simulator(scenario)
        daemon = None
        try:
            config = base / "dqwatch.toml"
            config.write_text(config_text(url, datasets, interval, window))
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dqwatch.cli",
                    "--log-level",
                    "WARNING",
                    "run",
                    "-c",
                    str(config),
                ],
                stdout=subprocess.DEVNULL,
                stderr=open(base / "daemon.log", "wb"),  # noqa: SIM115
            )
            # Warm-up: the first pass stores every dataset for the first time
            # (millions of rows); then one window lets the budgets fill.
            while stats(url)["calls"] < datasets:
                time.sleep(2)
            time.sleep(window)
            before, cpu_before, started = (
                stats(url),
                cpu_seconds(daemon.pid),
                time.time(),
            )
            time.sleep(window * windows)
            after, cpu_after, ended = stats(url), cpu_seconds(daemon.pid), time.time()
            rss = rss_mb(daemon.pid)
            daemon.send_signal(signal.SIGTERM)
            exit_code = daemon.wait(timeout=120)
        finally:
            if daemon is not None and daemon.poll() is None:
                daemon.kill()
            simulator.terminate()
            simulator.wait()
    calls = after["calls"] - before["calls"]
    allowed = budget * BUSINESSES * (ended - started) / window
    return {
        "datasets": datasets,
        "compression": factor,
        "interval_s": interval,
        "window_s": window,
        "budget_per_business_per_window": budget,
        "demand_per_business_per_window": demand,
        "measured_s": round(ended - started, 1),
        "calls": calls,
        "budget_used": round(calls / allowed, 3),
        "throttled": after["throttled"] - before["throttled"],
        "rss_mb": rss,
        "cpu_share": round((cpu_after - cpu_before) / (ended - started), 3),
        "exit_code": exit_code,
    }


SCENARIO = """\
[simulator]
latency = "50ms"
record_requests = 100

[[token]]
value = "bench-token"

[rate_limit]
window = "{window}"
business_calls = {budget}
headers_after = 10

[generate]
datasets = {datasets}
events = 10
seed = 1
businesses = {businesses}
"""


def config_text(url: str, datasets: int, interval: float, window: float) -> str:
    lines = [
        "[graph]",
        f'base_url = "{url}"',
        f'access_token = "{TOKEN}"',
        "max_concurrency = 64",
        f'usage_window = "{window:g}s"',
        "[storage]",
        'path = "bench.db"',
        "[poll]",
        f'interval = "{interval:g}s"',
        f'jitter = "{interval / 10:g}s"',
        "[web]",
        'listen = "127.0.0.1:0"',
    ]
    for i in range(datasets):
        lines += ["[[dataset]]", f'id = "{ID_START + i}"']
    return "\n".join(lines) + "\n"


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_simulator/stats", timeout=10) as response:
        return dict(json.load(response))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


if __name__ == "__main__":
    main()
