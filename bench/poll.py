"""Polling benchmark: dqwatch against a sequential loop and a bare aiohttp client.

Starts the Graph API simulator in its own process (generated datasets of 10
events, 50 ms latency), then measures, each in a fresh process so peak RSS
and CPU belong to one contender:

- ``dqwatch``: full cycles (poll, parse, store, evaluate) over every dataset:
  a first cycle into an empty database, an unchanged cycle, one where 1% of
  the datasets changed and one where all changed;
- ``sequential``: a ``requests`` loop over a sample, one dataset after the
  other, as a script on the official SDK does;
- ``ceiling``: bare aiohttp at the same concurrency, fetching bodies and
  doing nothing else.

Usage: python bench/poll.py [--sizes 1000,10000] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

TOKEN = "bench-token"
ID_START = 120_000_000_000_000
LATENCY = "50ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sample", type=int, default=100, help="sequential loop size")
    parser.add_argument(
        "--no-stress", action="store_true", help="skip the all-changed stress cycle"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--datasets", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args)
        result["peak_rss_mb"] = (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        )
        print(json.dumps(result))
        return
    for size in [int(s) for s in args.sizes.split(",")]:
        result = run_size(size, args.concurrency, args.sample, args.no_stress)
        print(json.dumps(result, indent=2))


def run_size(
    size: int, concurrency: int, sample: int, no_stress: bool = False
) -> dict[str, Any]:
    """Measure every contender against one simulator holding ``size`` datasets."""
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "scenario.toml"
        scenario.write_text(SCENARIO.format(datasets=size, latency=LATENCY))
        simulator, url = start_simulator(scenario)
        try:
            common = [
                "--url",
                url,
                "--datasets",
                str(size),
                "--concurrency",
                str(concurrency),
            ]
            stress = ["--no-stress"] if no_stress else []
            results = {
                "datasets": size,
                "concurrency": concurrency,
                "dqwatch": worker("dqwatch", [*common, *stress]),
                "sequential": worker("sequential", [*common, "--sample", str(sample)]),
                "ceiling": worker("ceiling", common),
            }
        finally:
            simulator.terminate()
            simulator.wait()
    return results


def worker(name: str, args: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", name, *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- contenders -------------------------------------------------------------


def dqwatch_worker(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_dqwatch(args))


async def _dqwatch(args: argparse.Namespace) -> dict[str, Any]:
    from dqwatch.config import load_config
    from dqwatch.cycle import Runtime, configured_rules, run_cycle
    from dqwatch.store import Store

    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder) / "dqwatch.toml"
        config_path.write_text(config_text(args.url, args.datasets, args.concurrency))
        config = load_config(config_path)
        store = Store.open(config.storage.path)
        cycles: dict[str, Any] = {}
        try:
            async with Runtime(config, configured_rules(config), store) as runtime:
                await runtime.adopt_rules()
                plan = [("first", None), ("unchanged", None), ("changed_1pct", 0.01)]
                if not args.no_stress:
                    plan.append(("changed_all", 1.0))
                for label, fraction in plan:
                    if fraction is not None:
                        post(f"{args.url}/_simulator/epoch?fraction={fraction}")
                    cycles[label] = await _measure(runtime, run_cycle)
        finally:
            store.close()
    return {"cycles": cycles}


async def _measure(runtime: Any, run_cycle: Any) -> dict[str, Any]:
    rows_before = runtime.store.rows_written
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    report = await run_cycle(runtime)
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    polls = len(report.results)
    return {
        "seconds": round(wall, 2),
        "datasets_per_s": round(polls / wall, 1),
        "cpu_ms_per_dataset": round(cpu * 1000 / polls, 3),
        "rows_written": runtime.store.rows_written - rows_before,
        "failed": len(report.failures),
        "alert_changes": len(report.transitions),
        "open_alerts": len(runtime.evaluator.book),
        "peak_rss_mb_so_far": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """The process's resident-memory high-water mark so far."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def sequential_worker(args: argparse.Namespace) -> dict[str, Any]:
    import requests

    from dqwatch.snapshot import REQUEST_FIELDS

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    count = min(args.sample, args.datasets)
    started = time.perf_counter()
    for i in range(count):
        response = session.get(
            f"{args.url}/v24.0/dataset_quality",
            params={"dataset_id": str(ID_START + i), "fields": REQUEST_FIELDS["web"]},
            timeout=30,
        )
        response.json()
    wall = time.perf_counter() - started
    return {
        "sample": count,
        "seconds": round(wall, 2),
        "datasets_per_s": round(count / wall, 1),
    }


def ceiling_worker(args: argparse.Namespace) -> dict[str, Any]:
    return asyncio.run(_ceiling(args))


async def _ceiling(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from dqwatch.snapshot import REQUEST_FIELDS

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(args.datasets):
        queue.put_nowait(ID_START + i)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def fetch_all() -> None:
            while not queue.empty():
                dataset = queue.get_nowait()
                params = {"dataset_id": str(dataset), "fields": REQUEST_FIELDS["web"]}
                async with session.get(
                    f"{args.url}/v24.0/dataset_quality", params=params
                ) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(fetch_all() for _ in range(args.concurrency)))
        wall = time.perf_counter() - started
    return {"seconds": round(wall, 2), "datasets_per_s": round(args.datasets / wall, 1)}


WORKERS = {
    "dqwatch": dqwatch_worker,
    "sequential": sequential_worker,
    "ceiling": ceiling_worker,
}


# -- plumbing ---------------------------------------------------------------

SCENARIO = """\
[simulator]
latency = "{latency}"
record_requests = 100

[[token]]
value = "bench-token"

[rate_limit]
window = "1h"
business_calls = 100000000
headers_after = 10

[generate]
datasets = {datasets}
events = 10
seed = 1
businesses = 100
"""


def config_text(url: str, datasets: int, concurrency: int) -> str:
    lines = [
        "[graph]",
        f'base_url = "{url}"',
        f'access_token = "{TOKEN}"',
        f"max_concurrency = {concurrency}",
        "[storage]",
        'path = "bench.db"',
    ]
    for i in range(datasets):
        lines += ["[[dataset]]", f'id = "{ID_START + i}"']
    return "\n".join(lines) + "\n"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_simulator(scenario: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``dqwatch simulate`` in its own process; returns it and its URL once up."""
    port = free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dqwatch.cli",
            "--log-level",
            "WARNING",
            "simulate",
            "--port",
            str(port),
            "--scenario",
            str(scenario),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url)
    except RuntimeError:
        simulator.kill()
        raise
    return simulator, url


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_simulator/stats", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the simulator at {url} did not start")


def post(url: str) -> None:
    urllib.request.urlopen(
        urllib.request.Request(url, method="POST"), timeout=30
    ).read()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
