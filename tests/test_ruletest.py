"""Rule tests: the default rules' own tests pass, and the runner says why when not."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import itertools
import re
import socket
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest

import dqwatch
from dqwatch.builtin_alerts import BUILTIN_RULES, TOKEN_EXPIRING
from dqwatch.errors import Problem, RuleError
from dqwatch.poller import PERMANENT, THROTTLED, TOKEN, TRANSIENT, outcome_of
from dqwatch.rules import load_rules, packaged_rule_paths
from dqwatch.ruletest import (
    Failure,
    RuleTest,
    RuleTestFile,
    graph_failure,
    load_test_file,
    packaged_rule_tests,
    run_rule_tests,
    run_test,
)

DOCS = Path(__file__).parent.parent / "docs" / "rule-tests.md"

RULES = """\
[[rule]]
name = "emq-drop"
kind = "drop"
metric = "emq"
by = 1.0

[[rule]]
name = "emq-poor"
kind = "threshold"
metric = "emq"
below = 5
for = 2
summary = "EMQ for {{ event }} is {{ value }}"

[[rule]]
name = "emq-weekly-drop"
kind = "drop"
metric = "emq"
by = 1.0
compare_to = "baseline:7d"
events = ["Subscribe"]
"""


def write(folder: Path, text: str, name: str = "test.toml") -> Path:
    """Write ``text`` (dedented) to ``folder/name`` and return the path."""
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run(paths: list[Path]) -> tuple[bool, str]:
    """Run rule tests; return whether all passed and what was printed."""
    out = io.StringIO()
    passed = run_rule_tests(paths, out)
    return passed, out.getvalue()


def problems_of(path: Path) -> list[str]:
    """The problems running ``path`` reports, as printed; fails if there are none."""
    out = io.StringIO()
    with pytest.raises(RuleError) as caught:
        run_rule_tests([path], out)
    assert out.getvalue() == "", "nothing runs while a file has a problem"
    return [str(problem) for problem in caught.value.problems]


def run_one(loaded: RuleTestFile, test: RuleTest) -> list[str]:
    """Run one (possibly altered) test of ``loaded`` on a temporary database."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "test.db"
        return asyncio.run(run_test(test, loaded.rules, database))


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A rule file with a drop, a threshold with for = 2 and a baseline drop."""
    return write(tmp_path, RULES, "rules.toml")


# -- the default rules' tests --------------------------------------------------


def test_packaged_rule_tests_pass() -> None:
    """Every test of the default rules and built-in alerts passes."""
    passed, output = run(packaged_rule_tests())

    assert passed, output
    assert "FAIL" not in output
    assert re.search(r"^\d+ tests in 4 files: \d+ passed, 0 failed$", output, re.M)


def test_packaged_rule_tests_ship_inside_the_package() -> None:
    """The tests are package files: one per default rule file, and the built-ins."""
    paths = packaged_rule_tests()
    package = Path(dqwatch.__file__).parent

    assert all(p.is_file() and p.is_relative_to(package) for p in paths)
    assert {p.stem for p in paths} == {
        *(p.stem for p in packaged_rule_paths()),
        "builtin-alerts",
    }


def test_packaged_tests_fire_and_resolve_every_default_rule() -> None:
    """Each default rule and built-in alert is seen firing, then resolving."""
    names = {rule.name for rule in load_rules(packaged_rule_paths()).rules}
    fired: set[str] = set()
    resolved: set[str] = set()
    for path in packaged_rule_tests():
        for test in load_test_file(path).tests:
            checked = [p.firing for p in test.polls if p.firing is not None]
            for before, after in itertools.pairwise(checked):
                now = {e.rule for e in after}
                resolved |= {e.rule for e in before} - now
            fired |= {e.rule for firing in checked for e in firing}

    # token-expiring comes from the daemon's token check, never from a poll.
    assert fired >= names | (BUILTIN_RULES - {TOKEN_EXPIRING})
    assert resolved >= names | (BUILTIN_RULES - {TOKEN_EXPIRING})


def test_packaged_tests_fail_when_their_alerts_are_not_expected() -> None:
    """Each poll of the default tests that expects alerts sees them really fire."""
    for path in packaged_rule_tests():
        loaded = load_test_file(path)
        for test in loaded.tests:
            polls = [
                dataclasses.replace(p, firing=()) if p.firing else p for p in test.polls
            ]
            emptied = dataclasses.replace(test, polls=tuple(polls))
            found = run_one(loaded, emptied)

            expecting = {p.number for p in test.polls if p.firing}
            failing = {int(line.split()[1]) for line in found}
            assert failing == expecting, (path.name, test.name, found)


def test_rule_tests_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running the default tests opens no network connection."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"a rule test tried to connect to {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    assert run(packaged_rule_tests())[0]


# -- the runner ----------------------------------------------------------------


def test_a_passing_file_prints_pass_per_test(tmp_path: Path, rules: Path) -> None:
    """A file whose expectations hold prints PASS lines and a count."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "drop fires"
        datasets = [{ id = "1001", name = "Acme shop" }]

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 7.8 }]
        firing = []

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 6.5 }]
        firing = [{ rule = "emq-drop", event = "Lead", value = 6.5, before = 7.8 }]

        [[test]]
        name = "drop resolves"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 7.8 }]

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 6.5 }]

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 7.0 }]
        firing = []
        """,
    )

    passed, output = run([path])

    assert passed
    assert output == (
        f"{path}\n"
        "  PASS  drop fires\n"
        "  PASS  drop resolves\n"
        "\n"
        "2 tests in 1 file: 2 passed, 0 failed\n"
    )


def test_a_failing_file_prints_what_differed_poll_by_poll(
    tmp_path: Path, rules: Path
) -> None:
    """Missing, unexpected and different alerts are each named with poll and line."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "wrong expectations"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [{ event = "Purchase", metric = "emq", value = 7.8 }]
        firing = [{ rule = "emq-drop", event = "Purchase" }]

        [[test.poll]]
        values = [{ event = "Purchase", metric = "emq", value = 4.8 }]
        firing = [
          { rule = "emq-drop", event = "Purchase", value = 5.8, summary = "EMQ fell" },
          { rule = "emq-poor", event = "Purchase" },
        ]
        """,
    )

    passed, output = run([path])

    assert not passed
    assert output == (
        f"{path}\n"
        "  FAIL  wrong expectations\n"
        "        poll 1 at 0s (line 7): missing firing alert emq-drop "
        "dataset=1001 event=Purchase\n"
        "        poll 2 at 15m (line 11): firing alert emq-drop dataset=1001 "
        "event=Purchase: value is 4.8, expected 5.8\n"
        "        poll 2 at 15m (line 11): firing alert emq-drop dataset=1001 "
        'event=Purchase: summary is "EMQ for Purchase fell from 7.8 to 4.8", '
        'expected "EMQ fell"\n'
        "        poll 2 at 15m (line 11): missing firing alert emq-poor "
        "dataset=1001 event=Purchase (it is pending)\n"
        "\n"
        "1 test in 1 file: 0 passed, 1 failed\n"
    )


def test_unexpected_alerts_are_shown_with_their_summary(
    tmp_path: Path, rules: Path
) -> None:
    """An alert nobody listed fails the poll, and its summary says why it fired."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "quiet, supposedly"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [{ event = "Purchase", metric = "emq", value = 7.8 }]

        [[test.poll]]
        values = [{ event = "Purchase", metric = "emq", value = 6.0 }]
        firing = []
        """,
    )

    passed, output = run([path])

    assert not passed
    assert (
        "poll 2 at 15m (line 10): unexpected firing alert emq-drop dataset=1001 "
        'event=Purchase: "EMQ for Purchase fell from 7.8 to 6"\n'
    ) in output


def test_for_counts_polls_and_a_throttled_poll_counts_nothing(
    tmp_path: Path, rules: Path
) -> None:
    """A for = 2 rule is pending, then firing; a throttled poll in between waits."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "for = 2"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 4.5 }]
        pending = [{ rule = "emq-poor", event = "Lead", value = 4.5 }]
        firing = []

        [[test.poll]]
        errors = [{ code = 17 }]
        pending = [{ rule = "emq-poor", event = "Lead" }]
        firing = []

        [[test.poll]]
        values = [{ event = "Lead", metric = "emq", value = 4.5 }]
        pending = []
        firing = [
          { rule = "emq-poor", event = "Lead", summary = "EMQ for Lead is 4.5" },
        ]
        """,
    )

    passed, output = run([path])

    assert passed, output


@pytest.mark.parametrize(
    ("at", "firing"),
    [
        ("6d", '[{ rule = "emq-weekly-drop", event = "Subscribe", before = 8.0 }]'),
        ("30d", "[]"),
    ],
)
def test_poll_times_decide_baseline_windows(
    tmp_path: Path, rules: Path, at: str, firing: str
) -> None:
    """A baseline:7d drop compares with the stored week before the poll's time."""
    path = write(
        tmp_path,
        f"""\
        rule_files = ["rules.toml"]

        [[test]]
        name = "weekly baseline"
        datasets = [{{ id = "1001" }}]

        [[test.poll]]
        at = "0s"
        values = [{{ event = "Subscribe", metric = "emq", value = 8.0 }}]

        [[test.poll]]
        at = "5d"
        values = [{{ event = "Subscribe", metric = "emq", value = 7.5 }}]
        firing = []

        [[test.poll]]
        at = "{at}"
        values = [{{ event = "Subscribe", metric = "emq", value = 6.9 }}]
        firing = {firing}
        """,
    )

    passed, output = run([path])

    assert passed, output


def test_identical_answers_in_any_order_are_unchanged(tmp_path: Path) -> None:
    """The stored body of an answer does not depend on the order of its values."""
    path = write(
        tmp_path,
        """\
        rule_files = []

        [[test]]
        name = "order"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [
          { event = "Purchase", metric = "emq", value = 7.8 },
          { event = "Lead", metric = "emq", value = 6.0 },
        ]
        firing = []

        [[test.poll]]
        values = [
          { event = "Lead", metric = "emq", value = 6.0 },
          { event = "Purchase", metric = "emq", value = 7.8 },
        ]
        """,
    )
    first, second = (p.responses[0] for p in load_test_file(path).tests[0].polls)

    assert first.raw == second.raw
    assert first.events != second.events


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (2044055, PERMANENT),
        (10, PERMANENT),
        (2, TRANSIENT),
        (190, TOKEN),
        (17, THROTTLED),
    ],
)
def test_errors_are_read_as_the_client_reads_them(code: int, outcome: str) -> None:
    """An error code becomes the error, and the poll outcome, the daemon would see."""
    error = graph_failure(Failure(code))

    assert error.code == code
    assert outcome_of(error) == outcome


def test_a_folder_runs_every_test_file_in_it(tmp_path: Path, rules: Path) -> None:
    """A folder argument stands for its *.toml files; an empty one is an error."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("b.toml", "a.toml"):
        write(
            tests,
            """\
            rule_files = ["../rules.toml"]
            [[test]]
            name = "quiet"
            datasets = [{ id = "1001" }]
            [[test.poll]]
            values = [{ event = "Lead", metric = "emq", value = 7.8 }]
            firing = []
            """,
            name,
        )
    empty = tmp_path / "empty"
    empty.mkdir()

    passed, output = run([tests])

    assert passed
    assert output.index("a.toml") < output.index("b.toml")
    assert "2 tests in 2 files: 2 passed, 0 failed" in output
    assert problems_of(empty) == [
        f"{empty}: holds no .toml file; name the test files, or their folder"
    ]


# -- bad files -----------------------------------------------------------------


def test_bad_values_and_polls_are_reported_at_their_lines(
    tmp_path: Path, rules: Path
) -> None:
    """Every misfit of values, errors and times is located, with its fix."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "bad"
        datasets = [{ id = "1001" }, { id = "1002", sources = ["web"] }]

        [[test.poll]]
        values = [
          { dataset = "1001", event = "Purchase", metric = "emq", value = 17.8 },
          { dataset = "1001", event = "Ad", metric = "match_key_coverage", value = 9 },
          { event = "Purchase", metric = "emq", value = 1 },
          { dataset = "1002", event = "Lead", metric = "offline_composite", value = 7 },
          { dataset = "1001", event = "Purchase", metric = "freshness", value = 7 },
          { dataset = "1001", metric = "emq", value = 7 },
        ]
        errors = [{ dataset = "1001", code = 2044055 }]
        firing = []

        [[test.poll]]
        at = "0s"
        error = 190
        errors = [{ dataset = "1002", code = 2 }]
        """,
    )

    assert problems_of(path) == [
        f"{path}:9: test[0].poll[0].values[0].value: 17.8 is outside the range of "
        "emq (0 to 10); use a number from 0 to 10",
        f'{path}:10: test[0].poll[0].values[1].key: is missing; add key = "email", '
        "or another key: match_key_coverage has a value per key",
        f"{path}:11: test[0].poll[0].values[2].dataset: is missing; "
        'add dataset = "<id>"; a test whose datasets list has exactly one entry '
        "makes that dataset the default",
        f"{path}:12: test[0].poll[0].values[3]: polls dataset 1002 for offline, but "
        'its datasets entry lists sources = ["web"]; add "offline" to its sources, '
        "or remove its sources key",
        f"{path}:13: test[0].poll[0].values[4].value: 7 is a number, but freshness "
        'is a text; write the text in quotes, e.g. "real_time"',
        f"{path}:14: test[0].poll[0].values[5].event: is missing; add event = "
        '"<event name>": every emq value belongs to an event',
        f"{path}:16: test[0].poll[0].errors[0]: dataset 1001 (web) already has "
        "values in this poll; give each dataset and source either values or one "
        "error per poll",
        f"{path}:20: test[0].poll[1].at: 0s is not after the previous poll (0s); give "
        "each poll a later time than the one before, or leave at out to poll one "
        "interval after it",
        f"{path}:21: test[0].poll[1].error: cannot be given with values or errors in "
        "the same poll; use error = CODE alone to fail every dataset of the test, or "
        'list the failing ones: errors = [{ dataset = "<id>", code = CODE }]',
    ]


def test_bad_expectations_are_reported_at_their_lines(
    tmp_path: Path, rules: Path
) -> None:
    """Unknown rules, misplaced keys and unpolled datasets are located, with a fix."""
    path = write(
        tmp_path,
        """\
        rule_files = ["rules.toml"]

        [[test]]
        name = "bad"
        datasets = [{ id = "1001" }]

        [[test.poll]]
        values = [{ event = "Purchase", metric = "emq", value = 7 }]
        firing = [
          { rule = "emq-dorp", event = "Purchase" },
          { rule = "token-invalid", dataset = "1001" },
          { rule = "dataset-unreachable", event = "Purchase", value = 1 },
          { rule = "emq-drop", dataset = "1003" },
          { rule = "emq-poor", event = "Purchase", key = "email", source = "offline" },
          { rule = "emq-drop", event = "Purchase" },
          { rule = "emq-drop", event = "Purchase" },
        ]

        [[test]]
        name = "bad"
        [[test.poll]]
        values = [{ dataset = "1001", event = "Purchase", metric = "emq", value = 7 }]
        """,
    )

    assert problems_of(path) == [
        f'{path}:10: test[0].poll[0].firing[0].rule: "emq-dorp" is not a rule of the '
        'rule files under test; did you mean "emq-drop"? (rule_files names the rule '
        "files)",
        f"{path}:11: test[0].poll[0].firing[1].dataset: does not apply: token-invalid "
        "is one alert for the access token, without a value; remove dataset",
        f"{path}:12: test[0].poll[0].firing[2].event: does not apply: "
        "dataset-unreachable is one alert per dataset, without a value; remove event",
        f"{path}:12: test[0].poll[0].firing[2].value: does not apply: "
        "dataset-unreachable is one alert per dataset, without a value; remove value",
        f'{path}:13: test[0].poll[0].firing[3].dataset: "1003" is not polled in this '
        "test; check the id: a test polls the datasets its polls give values or "
        "errors for, and those of its datasets list",
        f'{path}:13: test[0].poll[0].firing[3].event: is missing; add event = "<event '
        'name>": emq-drop alerts once per event',
        f'{path}:14: test[0].poll[0].firing[4].source: is "offline", but emq-poor '
        "watches emq, a web metric; remove source: the rule decides it",
        f"{path}:14: test[0].poll[0].firing[4].key: emq has no keys; remove key",
        f"{path}:16: test[0].poll[0].firing[6]: expects the same alert as the entry "
        "at line 15; list each alert once",
        f"{path}:19: test[1]: checks nothing: no poll lists firing or pending alerts; "
        "add firing = [...] to the polls whose alerts matter (firing = [] expects "
        "none)",
        f'{path}:20: test[1].name: "bad" is already the name of the test at line 3; '
        "give each test its own name, so a failure says which one",
    ]


def test_keys_of_the_wrong_shape_are_reported_by_line(tmp_path: Path) -> None:
    """Unknown keys, wrong types and unknown metrics are all reported at once."""
    path = write(
        tmp_path,
        """\
        [[test]]
        name = "shape"
        intervall = "15m"

        [[test.poll]]
        at = 15
        values = [{ dataset = "shop", event = "Lead", metric = "emqq", value = true }]
        firing = [{ dataset = "1001" }]
        """,
    )

    found = problems_of(path)

    assert found == [
        f'{path}:3: test[0].intervall: unknown key; did you mean "interval"?',
        f"{path}:6: test[0].poll[0].at: 15 is a number, not a duration; write it as "
        'a string with a unit, e.g. "15s" or "15m"',
        f'{path}:7: test[0].poll[0].values[0].dataset: "shop" is not a dataset id; '
        'write the numeric id as a string of digits, e.g. "1234567890"',
        f'{path}:7: test[0].poll[0].values[0].metric: "emqq" is not a metric; did you '
        'mean "emq"? (docs/rules.md lists every metric)',
        f"{path}:7: test[0].poll[0].values[0].value: must be a number or a string; "
        'write e.g. 7.5 or "real_time"',
        f'{path}:8: test[0].poll[0].firing[0].rule: is missing; add rule = "<rule '
        'name>"',
    ]


def test_rule_file_problems_name_the_rule_file(tmp_path: Path) -> None:
    """A missing rule file is located in the test file; a bad one at its own line."""
    write(
        tmp_path, '[[rule]]\nname = "x"\nkind = "drop"\nmetric = "emqq"\n', "bad.toml"
    )
    path = write(
        tmp_path,
        """\
        rule_files = ["bad.toml", "missing/*.toml"]
        [[test]]
        name = "t"
        [[test.poll]]
        error = 190
        firing = [{ rule = "token-invalid" }]
        """,
    )

    found = problems_of(path)

    assert found == [
        f'{path}:1: rule_files[1]: "missing/*.toml" matches no file (looked for '
        f"{tmp_path}/missing/*.toml); write the rule file's path relative to this "
        "test file, or leave rule_files out to test the packaged default rules",
        f'{tmp_path}/bad.toml:4: rule[0].metric: "emqq" is not a metric; did you '
        'mean "emq"? (docs/rules.md lists every metric)',
    ]


def test_invalid_toml_and_missing_files_are_problems(tmp_path: Path) -> None:
    """A syntax error names its line; a missing file says so; every file reports."""
    broken = write(tmp_path, '[[test]]\nname = "t\n', "broken.toml")
    missing = tmp_path / "missing.toml"

    out = io.StringIO()
    with pytest.raises(RuleError) as caught:
        run_rule_tests([broken, missing], out)
    found: list[Problem] = caught.value.problems

    assert [(p.file, p.line) for p in found] == [(str(broken), 2), (str(missing), None)]
    assert found[0].message.startswith("invalid TOML at column")
    assert found[1].message == "file not found"


def test_every_toml_example_in_the_docs_parses() -> None:
    """The format's documentation shows only valid TOML."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)

    assert len(blocks) >= 4
    for block in blocks:
        tomllib.loads(block)
