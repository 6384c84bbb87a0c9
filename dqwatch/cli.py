"""The ``dqwatch`` command line.

Exit codes: 0 when the command did its job, 1 when it could not run (the
database cannot be opened or written), 2 for bad config, rules or templates
(nothing is stored then). Logs go to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dqwatch import __version__, logs
from dqwatch.errors import ProblemsError, StoreError

log = logging.getLogger("dqwatch")
T = TypeVar("T")

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
    _logging_options(parser, defaults=True)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    _add_run(commands)
    _add_check(commands)
    _add_poll_once(commands)
    _add_silence(commands)
    _add_digest(commands)
    _add_test_rules(commands)
    _add_backtest(commands)
    _add_simulate(commands)
    _add_demo(commands)
    return parser


def _logging_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """--log-level and --log-format, accepted before or after the command."""
    parser.add_argument(
        "--log-level",
        type=str.upper,
        default="INFO" if defaults else argparse.SUPPRESS,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log on stderr (default INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="text" if defaults else argparse.SUPPRESS,
        choices=["text", "json"],
        help="text for people, json (one object per line) for machines",
    )


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
    _logging_options(sub, defaults=False)
    return sub


def _config_argument(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "-c", "--config", required=True, type=Path, help="the TOML config file"
    )


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "run",
        "Run the daemon: poll on schedule, evaluate, notify, send digests, serve "
        "/healthz, /metrics and a status page. SIGTERM drains and exits 0; SIGHUP "
        "reloads config, rules and templates.",
        "dqwatch run -c /etc/dqwatch/dqwatch.toml --log-format json",
        _run,
    )
    _config_argument(sub)


def _run(args: argparse.Namespace) -> int:
    from dqwatch.daemon import Daemon

    daemon = Daemon(args.config)  # bad config, rules or templates: exit 2 here
    code: int = asyncio.run(daemon.run())
    return code


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "check",
        "Validate the config file and its rule files without network or database.",
        "dqwatch check -c dqwatch.toml",
        _check,
    )
    _config_argument(sub)


def _check(args: argparse.Namespace) -> int:
    from dqwatch.config import load_config
    from dqwatch.cycle import configured_rules, load_templates

    config = load_config(args.config)
    rules = configured_rules(config)
    templates = load_templates(config)
    print(f"{args.config}: OK ({config.describe()})")
    print(f"rules: OK ({len(rules.rules)} rules from {len(rules.files)} files)")
    print(f"templates: OK ({len(templates.names())} rendered with sample alerts)")
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
    from dqwatch.cycle import Runtime, configured_rules, load_templates, run_cycle
    from dqwatch.output import cycle_json, cycle_table
    from dqwatch.store import Store

    config = load_config(args.config)
    rules = configured_rules(config)  # a bad rule set stops us before any write
    load_templates(config)  # and so does a template that does not render

    async def once() -> str:
        store = Store.open(config.storage.path)
        try:
            async with Runtime(config, rules, store) as runtime:
                adopted = await runtime.adopt_rules()
                report = await run_cycle(runtime)
                # What cannot be delivered now stays in the outbox for next time.
                await runtime.sender.deliver()
            summaries = await store.summaries()
        finally:
            store.close()
        render = cycle_json if args.json else cycle_table
        return render(report, summaries, [*adopted, *report.transitions])

    print(asyncio.run(once()))
    return EXIT_OK


def _add_silence(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "silence",
        "Manage silences: matching alerts are recorded but not sent.",
        "dqwatch silence add -c dqwatch.toml --rule emq-drop --dataset 1001 "
        '--duration 2h --comment "release in progress"',
        _silence,
    )
    actions = sub.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="silence alerts matching every given matcher",
        epilog="Example:\n  dqwatch silence add -c dqwatch.toml --owner acme "
        '--event "Lead*" --duration 1d --comment "migration"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(add)
    for name in ("rule", "dataset", "owner", "event", "source", "key"):
        add.add_argument(
            f"--{name}",
            help=f"match alerts of this {name}"
            + (" (globs allowed)" if name in ("event", "key") else ""),
        )
    add.add_argument("--duration", default="2h", help="how long, e.g. 30m, 2h, 7d")
    add.add_argument("--comment", default="", help="why, for the next person")
    add.add_argument("--author", default=os.environ.get("USER", ""), help="who")
    listing = actions.add_parser(
        "list",
        help="list silences",
        epilog="Example:\n  dqwatch silence list -c dqwatch.toml --all",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(listing)
    listing.add_argument("--all", action="store_true", help="include expired ones")
    listing.add_argument("--json", action="store_true", help="print JSON")
    expire = actions.add_parser(
        "expire",
        help="end a silence now",
        epilog="Example:\n  dqwatch silence expire -c dqwatch.toml 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_argument(expire)
    expire.add_argument("id", type=int, help="the silence id (see silence list)")


def _silence(args: argparse.Namespace) -> int:
    from dqwatch import silences
    from dqwatch.config import load_config
    from dqwatch.store import Store

    config = load_config(args.config)
    now = time.time()

    async def act(store: Store) -> tuple[int, str]:
        if args.action == "add":
            matchers = silences.matchers_from(vars(args))
            added = await silences.add(
                store, matchers, args.duration, args.comment, args.author, now
            )
            return EXIT_OK, f"silence {added.id} added\n" + silences.render(
                [added], now, False
            )
        if args.action == "list":
            found = await store.silences(None if args.all else now)
            return EXIT_OK, silences.render(found, now, args.json)
        if await store.expire_silence(args.id, now):
            return EXIT_OK, f"silence {args.id} expired"
        return EXIT_FAILED, f"no active silence {args.id}; see dqwatch silence list"

    try:
        code, text = _with_store(config.storage.path, act)
    except silences.SilenceInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(text)
    return code


def _with_store(path: Path, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(store)`` on the database at ``path``, closing it after."""
    from dqwatch.store import Store

    async def run() -> T:
        store = Store.open(path)
        try:
            return await action(store)
        finally:
            store.close()

    return asyncio.run(run())


def _add_digest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = _command(
        commands,
        "digest",
        "Build and send the advertiser email digests now.",
        "dqwatch digest -c dqwatch.toml --now --owner acme",
        _digest,
    )
    _config_argument(sub)
    sub.add_argument(
        "--now",
        action="store_true",
        required=True,
        help="send now (scheduled digests are the daemon's job)",
    )
    sub.add_argument("--owner", help="only this owner's digest")
    sub.add_argument("--period", default="7d", help="how far back to look (default 7d)")


def _digest(args: argparse.Namespace) -> int:
    from dqwatch.config import load_config
    from dqwatch.cycle import load_templates
    from dqwatch.digest import send_digests
    from dqwatch.durations import parse_duration

    config = load_config(args.config)
    templates = load_templates(config)
    try:
        period = parse_duration(args.period)
    except ValueError as exc:
        print(f"error: --period: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    now = time.time()
    sent = _with_store(
        config.storage.path,
        lambda store: send_digests(store, config, templates, now, period, args.owner),
    )
    for line in sent.lines:
        print(line)
    return EXIT_OK if not sent.failures else EXIT_FAILED


def _add_test_rules(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    sub = _command(
        commands,
        "test-rules",
        "Run rule unit tests: polls in, expected alerts out (exit 1 on a failure).",
        "dqwatch test-rules rules/tests/*.toml",
        _test_rules,
    )
    sub.add_argument("files", nargs="*", type=Path, help="test files (TOML)")
    sub.add_argument(
        "--packaged", action="store_true", help="run the default rules' own tests"
    )


def _test_rules(args: argparse.Namespace) -> int:
    from dqwatch.ruletest import packaged_rule_tests, run_rule_tests

    files = list(args.files) + (packaged_rule_tests() if args.packaged else [])
    if not files:
        print(
            "error: name test files, or --packaged for the default rules' tests",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    return EXIT_OK if run_rule_tests(files, sys.stdout) else EXIT_FAILED


def _add_backtest(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    sub = _command(
        commands,
        "backtest",
        "Replay stored history through the current rules; print what would have fired.",
        "dqwatch backtest -c dqwatch.toml --since 30d",
        _backtest,
    )
    _config_argument(sub)
    sub.add_argument(
        "--since",
        default="30d",
        help="how far back: a duration (30d) or a UTC date (2025-05-01)",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON document")


def _backtest(args: argparse.Namespace) -> int:
    from dqwatch.backtest import backtest, backtest_json, backtest_table, parse_since
    from dqwatch.config import load_config
    from dqwatch.cycle import configured_rules

    config = load_config(args.config)
    rules = configured_rules(config)
    now = time.time()
    try:
        since = parse_since(args.since, now)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not config.storage.path.exists():
        print(
            f"error: no database at {config.storage.path}: nothing to replay yet; "
            "run dqwatch poll-once or dqwatch run first, or check storage.path",
            file=sys.stderr,
        )
        return EXIT_FAILED
    report = _with_store(
        config.storage.path, lambda store: backtest(store, rules, since, now)
    )
    print(backtest_json(report) if args.json else backtest_table(report))
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
        "Run the daemon against a local simulator and mail catcher; no account "
        "or token needed. Alerts appear and resolve within a few minutes.",
        "dqwatch demo --dir demo-state",
        _demo,
    )
    sub.add_argument(
        "--dir",
        type=Path,
        default=Path("demo-state"),
        help="where the demo keeps files",
    )
    sub.add_argument(
        "--web-port", type=int, default=8787, help="status page port (default 8787)"
    )


def _demo(args: argparse.Namespace) -> int:
    from dqwatch.demo import run_demo

    args.dir.mkdir(parents=True, exist_ok=True)
    code: int = asyncio.run(run_demo(args.dir.resolve(), args.web_port))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
