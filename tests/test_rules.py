"""load_rules and friends: rule files read into Rules, or every problem located."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import dqwatch
from dqwatch.errors import Problem, RuleError
from dqwatch.metrics import CATALOGUE
from dqwatch.rules import (
    KINDS,
    Rule,
    default_summary,
    load_rules,
    matches_any,
    packaged_rule_paths,
    resolve_rule_files,
)
from dqwatch.templating import compile_summary, render_summary

PROBLEM_FORMAT = re.compile(r"^\S+\.toml:\d+: rule\[\d+\]\.\w+: .+; .+$")


def write(folder: Path, text: str, name: str = "rules.toml") -> Path:
    """Write a rule file and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_one(folder: Path, text: str) -> Rule:
    """The single rule of ``text``, loaded from a real file."""
    (rule,) = load_rules([write(folder, text)]).rules
    return rule


def problems(paths: list[Path]) -> list[Problem]:
    """The problems load_rules reports for ``paths``; fails if there are none."""
    with pytest.raises(RuleError) as caught:
        load_rules(paths)
    return caught.value.problems


def only_problem(folder: Path, text: str) -> Problem:
    """The single problem reported for the rule file ``text``."""
    found = problems([write(folder, text)])
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# -- the packaged default rules ------------------------------------------------

DEFAULT_NAMES = {
    "emq-drop",
    "match-key-lost",
    "event-coverage-low",
    "freshness-not-realtime",
    "offline-composite-low",
    "new-diagnostic",
}


def test_packaged_rules_load_cleanly() -> None:
    """The default rule files ship in the package and load without a problem."""
    paths = packaged_rule_paths()
    assert len(paths) >= 2
    assert all(path.is_file() and path.suffix == ".toml" for path in paths)

    rules = load_rules(paths).by_name()

    assert set(rules) == DEFAULT_NAMES
    assert all(rule.file in map(str, paths) and rule.line for rule in rules.values())


def test_packaged_rules_say_what_the_design_promises() -> None:
    """Each default rule watches the metric and condition DESIGN names."""
    rules = load_rules(packaged_rule_paths()).by_name()

    emq = rules["emq-drop"]
    assert (emq.kind, emq.metric, emq.by, emq.baseline) == ("drop", "emq", 1.0, None)
    assert emq.severity == "warning"
    assert rules["match-key-lost"].kind == "disappeared"
    assert rules["match-key-lost"].metric == "match_key_coverage"
    coverage = rules["event-coverage-low"]
    assert (coverage.kind, coverage.below, coverage.severity) == (
        "threshold",
        75.0,
        "warning",
    )
    freshness = rules["freshness-not-realtime"]
    assert (freshness.kind, freshness.from_value) == ("changed", "real_time")
    offline = rules["offline-composite-low"]
    assert (offline.metric, offline.below, offline.source) == (
        "offline_composite",
        8.5,
        "offline",
    )
    diagnostic = rules["new-diagnostic"]
    assert (diagnostic.kind, diagnostic.metric) == ("appeared", "diagnostic")
    assert diagnostic.severity in ("info", "warning")


def test_packaged_goal_example_is_valid_once_uncommented(tmp_path: Path) -> None:
    """The commented below = "goal" example in the coverage file loads as written."""
    (coverage,) = [
        p for p in packaged_rule_paths() if 'below = "goal"' in p.read_text()
    ]
    lines = coverage.read_text(encoding="utf-8").splitlines()
    start = lines.index("# [[rule]]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line.removeprefix("# "))

    rule = load_one(tmp_path, "\n".join(block))

    assert (rule.metric, rule.below_goal, rule.below) == ("event_coverage", True, None)


def test_packaged_rules_are_package_data() -> None:
    """The default rules live inside the installed package, not the checkout."""
    package = Path(dqwatch.__file__).parent
    assert all(path.is_relative_to(package) for path in packaged_rule_paths())


# -- valid rules -----------------------------------------------------------------


def test_a_drop_rule_maps_every_key(tmp_path: Path) -> None:
    """Each key of a drop rule lands in its Rule field, with file and line."""
    path = write(
        tmp_path,
        """\
        # comment first, so the rule starts on line 2
        [[rule]]
        name = "emq-slide"
        kind = "drop"
        metric = "emq"
        by_percent = 15
        compare_to = "baseline:7d"
        severity = "critical"
        for = 2
        events = ["Purchase", "Lead*"]
        owners = ["acme"]
        datasets = ["1001", 1002, "12*"]
        summary = "EMQ of {{ event }} slid to {{ value }}"
        """,
    )

    (rule,) = load_rules([path]).rules

    assert rule == Rule(
        name="emq-slide",
        kind="drop",
        metric="emq",
        source="web",
        severity="critical",
        for_polls=2,
        events=("Purchase", "Lead*"),
        owners=("acme",),
        datasets=("1001", "1002", "12*"),
        summary="EMQ of {{ event }} slid to {{ value }}",
        by_percent=15.0,
        baseline=7 * 86400.0,
        file=str(path),
        line=2,
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('metric = "emq"\nbelow = 6', {"below": 6.0}),
        ('metric = "event_coverage"\nabove = 99.5', {"above": 99.5}),
        ('metric = "event_coverage"\nbelow = "goal"', {"below_goal": True}),
        ('metric = "freshness"\nnot_equals = "real_time"', {"not_equals": "real_time"}),
        ('metric = "freshness"\nequals = "daily"', {"equals": "daily"}),
        ('metric = "emq"\nequals = 0', {"equals": 0.0}),
    ],
)
def test_threshold_conditions(
    tmp_path: Path, body: str, fields: dict[str, object]
) -> None:
    """Each threshold condition is stored in its own field; the others stay None."""
    rule = load_one(tmp_path, f'[[rule]]\nname = "t"\nkind = "threshold"\n{body}\n')

    conditions = ("below", "below_goal", "above", "equals", "not_equals")
    expected = dict.fromkeys(conditions) | {"below_goal": False} | fields
    assert {name: getattr(rule, name) for name in conditions} == expected


def test_keyed_and_text_kinds_load(tmp_path: Path) -> None:
    """appeared, disappeared (with a keys filter) and changed rules load."""
    path = write(
        tmp_path,
        """\
        [[rule]]
        name = "a"
        kind = "appeared"
        metric = "diagnostic"
        [[rule]]
        name = "d"
        kind = "disappeared"
        metric = "offline_match_key_coverage"
        keys = ["email"]
        [[rule]]
        name = "c"
        kind = "changed"
        metric = "freshness"
        from = "real_time"
        """,
    )

    appeared, disappeared, changed = load_rules([path]).rules

    assert appeared.kind == "appeared"
    assert appeared.source == "web"
    assert (disappeared.source, disappeared.keys) == ("offline", ("email",))
    assert changed.from_value == "real_time"
    assert [rule.line for rule in (appeared, disappeared, changed)] == [1, 5, 10]


def test_defaults_of_an_unadorned_rule(tmp_path: Path) -> None:
    """Without severity, for, filters or summary a rule gets the documented defaults."""
    rule = load_one(
        tmp_path, '[[rule]]\nname = "x"\nkind = "drop"\nmetric = "emq"\nby = 1\n'
    )

    assert (rule.severity, rule.for_polls) == ("warning", 1)
    assert rule.events == rule.keys == rule.owners == rule.datasets == ()
    assert rule.baseline is None
    assert rule.summary == "EMQ for {{ event }} fell from {{ before }} to {{ value }}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metric", sorted(CATALOGUE))
def test_default_summaries_compile_and_render(kind: str, metric: str) -> None:
    """Every default summary, for every kind and metric, compiles and renders."""
    condition = "below" if kind == "threshold" else None
    template = compile_summary(default_summary(kind, metric, condition))

    text = render_summary(
        template,
        {"event": "Purchase", "key": "email", "value": 5.5, "before": 7.5}
        | {"threshold": 6, "rule": "r"},
    )

    assert "Purchase" in text
    assert "failed" not in text


def test_default_summaries_read_well() -> None:
    """Default summaries name the metric and say what happened."""
    assert default_summary("threshold", "event_coverage", "below_goal") == (
        "Event coverage for {{ event }} is {{ value }}%, "
        "below its goal of {{ threshold }}%"
    )
    assert default_summary("appeared", "diagnostic") == (
        "New diagnostic for {{ event }}: {{ key }} ({{ value }}%)"
    )
    assert default_summary("changed", "freshness") == (
        "Data freshness for {{ event }} changed from {{ before }} to {{ value }}"
    )


def test_no_files_no_rules() -> None:
    """An empty list of files is an empty rule set, not an error."""
    assert load_rules([]).rules == ()


def test_a_file_given_twice_is_read_once(tmp_path: Path) -> None:
    """Overlapping patterns do not turn every rule into its own duplicate."""
    path = write(
        tmp_path, '[[rule]]\nname = "x"\nkind = "appeared"\nmetric = "diagnostic"'
    )

    rule_set = load_rules([path, path])

    assert len(rule_set.rules) == 1
    assert rule_set.files == (str(path),)


# -- one problem, located --------------------------------------------------------

HEADER = '[[rule]]\nname = "r"\n'  # lines 1-2: the keys of each case start on line 3
# Rule bodies that are valid up to their last line; a case adds one key after them.
DROP = 'kind = "drop"\nmetric = "emq"\nby = 1\n'  # lines 3-5
ABOVE = 'kind = "threshold"\nmetric = "emq"\n'  # lines 3-4
NEW = 'kind = "appeared"\nmetric = "diagnostic"\n'  # lines 3-4


@pytest.mark.parametrize(
    ("body", "key", "line", "words"),
    [
        # names, kinds, metrics, unknown keys
        ('kind = "dropp"\nmetric = "emq"\nby = 1', "kind", 3, 'did you mean "drop"'),
        ('kind = "drop"\nmetric = "emqq"\nby = 1', "metric", 4, 'did you mean "emq"'),
        (DROP + "metrc = 1", "metrc", 6, 'unknown key; did you mean "metric"'),
        (DROP + 'severity = "critcal"', "severity", 6, 'did you mean "critical"'),
        (ABOVE + "below = 5\nby = 1", "by", 6, "applies to drop rules"),
        (DROP + 'from = "x"', "from", 6, "applies to changed rules"),
        # kind and metric
        ('kind = "drop"\nmetric = "freshness"\nby = 1', "metric", 4, "watch numbers"),
        ('kind = "changed"\nmetric = "emq"\nfrom = "x"', "metric", 4, "watch text"),
        ('kind = "changed"\nmetric = "freshness"', "from", 1, "is missing"),
        ('kind = "disappeared"\nmetric = "emq"', "metric", 4, "emq has no keys"),
        ('kind = "appeared"\nmetric = "acr"', "metric", 4, "acr has no keys"),
        (DROP + 'keys = ["x"]', "keys", 6, "no keys to filter"),
        # threshold conditions
        (ABOVE, "", 1, "needs a condition"),
        (ABOVE + "below = 5\nabove = 9", "above", 6, "one condition"),
        (ABOVE + "below = 11", "below", 5, "outside the range of emq (0 to 10)"),
        (ABOVE + "below = -1", "below", 5, "outside the range"),
        ('kind = "threshold"\nmetric = "acr"\nabove = 101', "above", 5, "(0 to 100)"),
        ('kind = "threshold"\nmetric = "freshness"\nbelow = 3', "below", 5, "is text"),
        (ABOVE + 'below = "goal"', "below", 5, "only event_coverage"),
        (ABOVE + 'below = "low"', "below", 5, 'neither a number nor "goal"'),
        (ABOVE + 'above = "7"', "above", 5, '"7" is text, not a number'),
        (ABOVE + 'equals = "7"', "equals", 5, "emq is a number"),
        (ABOVE + "equals = true", "equals", 5, "must be a number or a string"),
        (
            'kind = "threshold"\nmetric = "freshness"\nnot_equals = 1',
            "not_equals",
            5,
            "write it in quotes",
        ),
        # drop amounts and references
        ('kind = "drop"\nmetric = "emq"', "", 1, "needs by or by_percent"),
        (DROP + "by_percent = 10", "by_percent", 6, "is set together with by"),
        (ABOVE.replace("threshold", "drop") + "by = 0", "by", 5, "at most 10"),
        (ABOVE.replace("threshold", "drop") + "by = 10.5", "by", 5, "possible fall"),
        (ABOVE.replace("threshold", "drop") + 'by = "1"', "by", 5, "remove the quotes"),
        (
            'kind = "drop"\nmetric = "acr"\nby_percent = 150',
            "by_percent",
            5,
            "at most 100",
        ),
        (DROP + 'compare_to = "yesterday"', "compare_to", 6, '"baseline:7d"'),
        (DROP + 'compare_to = "baseline:7x"', "compare_to", 6, '"7x" is not a dur'),
        (DROP + 'compare_to = "baseline:0s"', "compare_to", 6, "empty window"),
        # for, filters
        (DROP + "for = 0", "for", 6, "0 is less than 1"),
        (DROP + 'for = "2"', "for", 6, "must be a whole number"),
        (DROP + "for = 1.5", "for", 6, "must be a whole number"),
        (DROP + 'events = ["Lead[12"]', "events[0]", 6, "never closes it"),
        (DROP + 'events = "Purchase"', "events", 6, 'as a list: ["Purchase"]'),
        (NEW + 'keys = ["ok", "[!"]', "keys[1]", 5, "never closes it"),
        (NEW + 'datasets = ["acme"]', "datasets[0]", 5, "not a dataset id"),
        (NEW + 'owners = [""]', "owners[0]", 5, "is empty"),
        # summaries
        (NEW + 'summary = "{{ evnt }}"', "summary", 5, 'did you mean "event"'),
        (NEW + 'summary = "{{ key "', "summary", 5, "does not compile"),
        (NEW + 'summary = " "', "summary", 5, "remove it to use the default"),
    ],
)
def test_each_problem_is_located(
    tmp_path: Path, body: str, key: str, line: int, words: str
) -> None:
    """A mistake is reported once, at its key and line, with words and a fix."""
    problem = only_problem(tmp_path, HEADER + body + "\n")

    assert problem.file == str(tmp_path / "rules.toml")
    assert problem.key == ("rule[0]." + key if key else "rule[0]")
    assert problem.line == line
    assert words in str(problem)
    assert problem.fix


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ('"emq drop"', "not a usable rule name"),
        ('"token-invalid"', "built-in alert"),
        ("7", "must be a string"),
    ],
)
def test_bad_names(tmp_path: Path, name: str, words: str) -> None:
    """Names must be usable in silences and must not take a built-in alert's."""
    problem = only_problem(
        tmp_path, f'[[rule]]\nname = {name}\nkind = "appeared"\nmetric = "diagnostic"\n'
    )

    assert (problem.key, problem.line) == ("rule[0].name", 2)
    assert words in problem.message


def test_missing_keys_point_at_the_rule_header(tmp_path: Path) -> None:
    """A rule without name, kind and metric gets one problem each, at its header."""
    found = problems([write(tmp_path, 'x = 1\n\n[[rule]]\nseverity = "info"\n')])

    by_key = {problem.key: problem for problem in found}
    assert set(by_key) == {"x", "rule[0].name", "rule[0].kind", "rule[0].metric"}
    assert {by_key[k].line for k in by_key if k != "x"} == {3}
    assert 'add kind = one of "threshold"' in by_key["rule[0].kind"].fix


def test_a_single_rule_table_asks_for_double_brackets(tmp_path: Path) -> None:
    """Writing [rule] instead of [[rule]] is explained, at its line."""
    problem = only_problem(tmp_path, '[rule]\nname = "x"\n')

    assert (problem.key, problem.line) == ("rule", 1)
    assert "[[rule]]" in problem.fix


def test_invalid_toml_gives_line_and_column(tmp_path: Path) -> None:
    """A syntax error is one problem, at tomllib's line and column."""
    problem = only_problem(tmp_path, '[[rule]]\nname = "x\nkind = "drop"\n')

    assert problem.line == 2
    assert "invalid TOML at column 10" in problem.message


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    """A path that does not exist is reported, not raised as OSError."""
    (problem,) = problems([tmp_path / "nope.toml"])

    assert problem.file == str(tmp_path / "nope.toml")
    assert "file not found" in problem.message


# -- many problems at once -------------------------------------------------------


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    """Problems of several rules in two files come back together, in order."""
    first = write(
        tmp_path,
        """\
        [[rule]]
        name = "a"
        kind = "threshold"
        metric = "emq"
        below = 12
        severity = "urgent"

        [[rule]]
        name = "b"
        kind = "drop"
        metric = "freshness"
        by = 1
        """,
        "first.toml",
    )
    broken = write(tmp_path, "[[rule]\n", "broken.toml")
    second = write(
        tmp_path,
        """\
        [[rule]]
        name = "c"
        kind = "changed"
        metric = "emq"
        below = 3
        """,
        "second.toml",
    )

    found = problems([first, broken, second])

    assert [(Path(p.file).name, p.line, p.key) for p in found] == [
        ("first.toml", 5, "rule[0].below"),
        ("first.toml", 6, "rule[0].severity"),
        ("first.toml", 11, "rule[1].metric"),
        ("broken.toml", 1, ""),
        ("second.toml", 1, "rule[0].from"),
        ("second.toml", 4, "rule[0].metric"),
        ("second.toml", 5, "rule[0].below"),
    ]
    assert all(PROBLEM_FORMAT.match(str(p)) for p in found if p.key)


def test_the_error_text_lists_one_problem_per_line(tmp_path: Path) -> None:
    """str(RuleError) is what `dqwatch check` prints: FILE:LINE: key: what; fix."""
    path = write(
        tmp_path, '[[rule]]\nname = "a"\nkind = "drop"\nmetric = "emqq"\nby = 1\n'
    )

    with pytest.raises(RuleError) as caught:
        load_rules([path])

    assert str(caught.value) == (
        f'{path}:4: rule[0].metric: "emqq" is not a metric; did you mean "emq"? '
        "(docs/rules.md lists every metric)"
    )


def test_duplicate_names_across_files_name_the_first(tmp_path: Path) -> None:
    """A name used again is reported at the second use, naming the first's file:line."""
    rule = '[[rule]]\nname = "{}"\nkind = "appeared"\nmetric = "diagnostic"\n'
    first = write(tmp_path, rule.format("x") + "\n" + rule.format("dup"), "a.toml")
    second = write(tmp_path, rule.format("dup"), "b/b.toml")

    (problem,) = problems([first, second])

    assert (problem.file, problem.line, problem.key) == (str(second), 2, "rule[0].name")
    assert f"already the name of the rule at {first}:7" in problem.message


def test_duplicate_names_within_one_file(tmp_path: Path) -> None:
    """Two rules of one file with the same name are one problem, at the second."""
    rule = '[[rule]]\nname = "x"\nkind = "appeared"\nmetric = "diagnostic"\n'

    problem = only_problem(tmp_path, rule + rule)

    assert (problem.line, problem.key) == (6, "rule[1].name")


# -- rule file patterns ----------------------------------------------------------


def test_patterns_expand_sorted_in_pattern_order(tmp_path: Path) -> None:
    """Each pattern's files are sorted; later patterns follow; repeats drop out."""
    for name in ("b.toml", "a.toml", "extra/z.toml", "deep/er/y.toml", "notes.txt"):
        write(tmp_path, "", name)
    globs = [
        str(tmp_path / "extra" / "*.toml"),
        str(tmp_path / "*.toml"),
        str(tmp_path / "**" / "*.toml"),
    ]

    found = resolve_rule_files(globs)

    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "extra/z.toml",
        "a.toml",
        "b.toml",
        "deep/er/y.toml",
    ]


def test_a_pattern_matching_nothing_is_named(tmp_path: Path) -> None:
    """Every pattern without a match is reported, with the fix."""
    write(tmp_path, "", "a.toml")
    globs = [str(tmp_path / "a.toml"), str(tmp_path / "*.tml"), str(tmp_path / "x")]

    with pytest.raises(RuleError) as caught:
        resolve_rule_files(globs)

    assert [p.file for p in caught.value.problems] == globs[1:]
    assert all("matches no rule file" in p.message for p in caught.value.problems)


def test_a_pattern_matching_nothing_is_located_in_the_config(tmp_path: Path) -> None:
    """Given the config file, the problem points at the pattern's line there."""
    config = tmp_path / "dqwatch.toml"
    config.write_text('[graph]\nx = 1\n\n[rules]\npaths = [\n  "a/*.toml",\n]\n')

    with pytest.raises(RuleError) as caught:
        resolve_rule_files([str(tmp_path / "a" / "*.toml")], config=config)

    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (
        str(config),
        6,
        "rules.paths[0]",
    )
    assert str(tmp_path / "a" / "*.toml") in problem.message


# -- filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "value", "admitted"),
    [
        ((), "anything", True),
        (("Purchase",), "Purchase", True),
        (("Lead*",), "LeadSubmitted", True),
        (("lead*",), "LeadSubmitted", False),
        (("Lead[12]",), "Lead3", False),
        (("10[0-9]1", "2*"), "1051", True),
    ],
)
def test_filters_match_as_documented(
    patterns: tuple[str, ...], value: str, admitted: bool
) -> None:
    """Filters are case-sensitive fnmatch globs; an empty filter admits all."""
    assert matches_any(patterns, value) is admitted


# -- the rule reference ----------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "rules.md"


def test_every_example_in_the_reference_loads(tmp_path: Path) -> None:
    """The rule examples of docs/rules.md are valid rules, all together."""
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    examples = [block for block in blocks if "[[rule]]" in block]
    paths = [write(tmp_path, text, f"{n}.toml") for n, text in enumerate(examples)]

    rules = load_rules(paths).rules

    assert len(rules) == len(examples) >= 8
    assert {rule.kind for rule in rules} == set(KINDS)


def test_the_reference_lists_every_metric_and_default_rule() -> None:
    """docs/rules.md names each catalogue metric and each packaged rule."""
    text = DOCS.read_text(encoding="utf-8")

    assert [m for m in CATALOGUE if f"| `{m}` |" not in text] == []
    assert [name for name in DEFAULT_NAMES if f"| `{name}` |" not in text] == []
