"""The ``dqwatch`` command line.

Exit codes: 0 when the command did its job, 1 when it could not run (the
database cannot be opened or written), 2 for bad config, rules or templates
(nothing is stored then). Logs go to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dqwatch import __version__, logs
from dqwatch.errors import ProblemsError, StoreError

log = logging.getLogger("dqwatch")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run one dqwatch command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ProblemsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(f"\n{count} problem{'s' if count != 1 else ''} found.", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dqwatch",
        description="Watch the data quality of Meta datasets (Pixels).",
        epilog="Example:\n  dqwatch poll-once -c dqwatch.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dqwatch {__version__}")
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text for people, json (one object per line) for machines",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_check(commands)
    _add_poll_once(commands)
    _add_simulate(commands)
    _add_demo(commands)
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    example: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    sub = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"Example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub


def _config_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "-c", "--config", required=True, type=Path, help="the TOML config file"
    )


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "check",
        "Validate the config file without touching the network or the database.",
        "dqwatch check -c dqwatch.toml",
        _check,
    )
    _config_argument(sub)


def _check(args: argparse.Namespace) -> int:
    from dqwatch.config import load_config

    config = load_config(args.config)
    print(f"{args.config}: OK ({config.describe()})")
    return EXIT_OK


def _add_poll_once(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    sub = _command(
        commands,
        "poll-once",
        "Poll every configured dataset once, store the results, print a summary.",
        "dqwatch poll-once -c dqwatch.toml --json",
        _poll_once,
    )
    _config_argument(sub)
    sub.add_argument("--json", action="store_true", help="print one JSON document")


def _poll_once(args: argparse.Namespace) -> int:
    from dqwatch.config import load_config
    from dqwatch.cycle import Runtime, configured_rules, run_cycle
    from dqwatch.output import cycle_json, cycle_table
    from dqwatch.store import Store

    config = load_config(args.config)
    rules = configured_rules(config)  # a bad rule set stops us before any write

    async def once() -> str:
        store = Store.open(config.storage.path)
        try:
            async with Runtime(config, rules, store) as runtime:
                adopted = await runtime.adopt_rules()
                report = await run_cycle(runtime)
            summaries = await store.summaries()
        finally:
            store.close()
        render = cycle_json if args.json else cycle_table
        return render(report, summaries, [*adopted, *report.transitions])

    print(asyncio.run(once()))
    return EXIT_OK


def _add_simulate(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    sub = _command(
        commands,
        "simulate",
        "Run the local Graph API simulator (for tests, demos and trying rules).",
        "dqwatch simulate --port 8900 --scenario my-scenario.toml",
        _simulate,
    )
    sub.add_argument("--host", default="127.0.0.1", help="address to listen on")
    sub.add_argument("--port", type=int, default=8900, help="port (default 8900)")
    sub.add_argument(
        "--scenario",
        type=Path,
        help="a scenario TOML file (default: the packaged basic scenario)",
    )


def _simulate(args: argparse.Namespace) -> int:
    from dqwatch.simulator import serve

    serve(args.scenario, args.host, args.port)
    return EXIT_OK


def _add_demo(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "demo",
        "Run dqwatch against a local simulator; no account or token needed.",
        "dqwatch demo",
        _demo,
    )
    sub.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-state"),
        help="where the demo keeps files",
    )
    sub.add_argument(
        "--interval", type=float, default=10.0, help="seconds between cycles"
    )
    sub.add_argument(
        "--cycles", type=int, default=0, help="stop after N cycles (0: never)"
    )


def _demo(args: argparse.Namespace) -> int:
    from dqwatch.demo import run_demo

    args.dir.mkdir(parents=True, exist_ok=True)
    code: int = asyncio.run(run_demo(args.dir, args.interval, args.cycles))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
