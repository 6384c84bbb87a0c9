"""load_config: reading, interpolating and validating the configuration file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from dqwatch.config import Config, EmailChannel, SlackChannel, load_config
from dqwatch.errors import ConfigError, Problem

ROOT = Path(__file__).resolve().parent.parent
GRAPH = '[graph]\naccess_token = "tok-0123456789"\n'
DATASET = '[[dataset]]\nid = "1001"\n'
MINIMAL = GRAPH + DATASET  # four lines
EXAMPLE_ENV = {
    "DQWATCH_ACCESS_TOKEN": "example-token-5d1c",
    "DQWATCH_APP_SECRET": "example-app-secret-9e2f",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/x0",
    "SMTP_USER": "mailer",
    "SMTP_PASSWORD": "example-smtp-password-77",
}


def write(folder: Path, text: str, name: str = "dqwatch.toml") -> Path:
    """Write a config file and return its path."""
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(folder: Path, text: str, env: dict[str, str] | None = None) -> Config:
    """Load ``text`` as a config file in ``folder``."""
    return load_config(write(folder, text), env or {})


def problems(
    folder: Path, text: str, env: dict[str, str] | None = None
) -> list[Problem]:
    """The problems load_config reports for ``text``; fails if there are none."""
    with pytest.raises(ConfigError) as caught:
        load(folder, text, env)
    return caught.value.problems


def only_problem(folder: Path, text: str, env: dict[str, str] | None = None) -> Problem:
    """The single problem reported for ``text``."""
    found = problems(folder, text, env)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# -- a valid file --------------------------------------------------------------


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    """Only [graph] and one dataset are required; everything else defaults."""
    config = load(tmp_path, MINIMAL)

    assert config.source == tmp_path / "dqwatch.toml"
    assert config.graph.base_url == "https://graph.facebook.com"
    assert config.graph.api_version == "v24.0"
    assert config.graph.access_token.get_secret_value() == "tok-0123456789"
    assert (config.graph.app_secret, config.graph.agent_name) == (None, None)
    assert (config.graph.max_concurrency, config.graph.timeout) == (32, 30.0)
    assert (config.graph.max_retries, config.graph.batch_size) == (4, 0)
    assert config.storage.path == tmp_path / "dqwatch.db"
    assert config.storage.history == 90 * 86400
    assert (config.poll.interval, config.poll.jitter) == (900, 60)
    [dataset] = config.datasets
    assert (dataset.id, dataset.name, dataset.owner) == ("1001", "1001", "")
    assert dataset.sources == ("web",)
    assert (config.discover, config.routes, dict(config.channels)) == ((), (), {})
    assert (config.rules.configured, config.rules.paths) == (False, ())
    assert config.templates.path is None
    assert (config.web.host, config.web.port) == ("127.0.0.1", 8787)


def test_example_config_loads(tmp_path: Path) -> None:
    """config.example.toml is valid with the variables it names set."""
    config = load_config(ROOT / "config.example.toml", EXAMPLE_ENV)

    assert (len(config.datasets), len(config.discover)) == (2, 1)
    assert config.rules.configured
    assert config.rules.paths == (str(ROOT / "rules" / "*.toml"),)
    slack, mail = config.channels["oncall"], config.channels["acme-mail"]
    assert isinstance(slack, SlackChannel)
    assert isinstance(mail, EmailChannel)
    assert mail.from_ == "dqwatch@agency.example"
    assert mail.digest == "0 8 * * MON"
    assert config.routes[0].continue_ is True
    assert config.routes[1].match.event == ("Purchase", "Lead*")


def test_values_are_converted_to_their_types(tmp_path: Path) -> None:
    """Durations become seconds, single strings tuples, integer ids strings."""
    config = load(
        tmp_path,
        GRAPH
        + """
        [poll]
        interval = "1h30m"
        jitter = "250ms"
        [[dataset]]
        id = 1234567890
        sources = ["offline", "web"]
        [[discover]]
        business_id = 555
        [[route]]
        match = { severity = "critical", event = "Purchase*", dataset = 1001 }
        to = ["ops"]
        [channel.ops]
        type = "console"
        repeat_interval = "1d"
        """,
    )
    assert (config.poll.interval, config.poll.jitter) == (5400.0, 0.25)
    assert config.datasets[0].id == "1234567890"
    assert config.datasets[0].sources == ("offline", "web")
    assert config.discover[0].business_id == "555"
    assert config.discover[0].edges == ("owned_pixels", "client_pixels")
    match = config.routes[0].match
    assert (match.severity, match.event, match.dataset) == (
        ("critical",),
        ("Purchase*",),
        ("1001",),
    )
    assert match.rule == ()
    assert config.routes[0].continue_ is False
    assert config.channels["ops"].repeat_interval == 86400.0


@pytest.mark.parametrize(
    ("keys", "port"),
    [("tls = true", 465), ("starttls = true", 587), ("", 25), ("port = 2525", 2525)],
)
def test_email_port_follows_the_tls_mode(tmp_path: Path, keys: str, port: int) -> None:
    """Without port, implicit TLS uses 465, STARTTLS 587, plain SMTP 25."""
    config = load(
        tmp_path,
        MINIMAL
        + '[channel.m]\ntype = "email"\nhost = "h"\nfrom = "a@b.c"\n'
        + f'to = ["d@e.f"]\n{keys}\n',
    )
    channel = config.channels["m"]
    assert isinstance(channel, EmailChannel)
    assert channel.port == port


@pytest.mark.parametrize(
    ("digest", "written"),
    [
        ("0 8 * * MON", "0 8 * * MON"),
        ("0 8 * * 1", "0 8 * * MON"),
        ("30 7 * * 0-2", "30 7 * * MON,TUE,SUN"),
        ("0 9 * * 5-7", "0 9 * * FRI,SAT,SUN"),
        ("*/15 8-18 * * mon-fri", "*/15 8-18 * * MON,TUE,WED,THU,FRI"),
        ("0 8 1 JAN,jul *", "0 8 1 JAN,jul *"),
        ("0 0 * * */1", "0 0 * * *"),
    ],
)
def test_digest_weekdays_are_written_as_names(
    tmp_path: Path, digest: str, written: str
) -> None:
    """Weekday numbers follow crontab (0 = Sunday) and come back as names."""
    config = load(
        tmp_path,
        MINIMAL + '[channel.m]\ntype = "email"\nhost = "h"\nfrom = "a@b.c"\n'
        f'to = ["d@e.f"]\ndigest = "{digest}"\n',
    )
    channel = config.channels["m"]
    assert isinstance(channel, EmailChannel)
    assert channel.digest == written


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("0.0.0.0:0", "0.0.0.0", 0),
        ("[::1]:8080", "::1", 8080),
        ("dq.lan:80", "dq.lan", 80),
    ],
)
def test_web_listen_forms(tmp_path: Path, listen: str, host: str, port: int) -> None:
    """listen takes host:port, IPv6 in brackets, and splits into host and port."""
    config = load(tmp_path, MINIMAL + f'[web]\nlisten = "{listen}"\n')
    assert (config.web.host, config.web.port) == (host, port)


def test_config_is_frozen(tmp_path: Path) -> None:
    """Neither the config, its tables nor its channel mapping can be changed."""
    config = load(tmp_path, MINIMAL + '[channel.c]\ntype = "console"\n')
    with pytest.raises(ValidationError):
        config.graph.max_retries = 9
    with pytest.raises(TypeError):
        config.channels["d"] = config.channels["c"]  # type: ignore[index]
    assert config.model_dump()["channels"]["c"]["type"] == "console"


def test_describe_summarises_without_secrets(tmp_path: Path) -> None:
    """describe() counts datasets, discovery, channels and routes in one line."""
    config = load_config(ROOT / "config.example.toml", EXAMPLE_ENV)
    line = config.describe()
    assert "\n" not in line
    for part in ("2 datasets", "1 discover entry", "3 channels", "oncall: slack"):
        assert part in line
    assert "3 routes" in line
    assert not [s for s in EXAMPLE_ENV.values() if s in line]


# -- environment ---------------------------------------------------------------


def test_environment_references_are_replaced(tmp_path: Path) -> None:
    """${NAME} takes the variable's value, $${ writes a literal ${."""
    config = load(
        tmp_path,
        """
        [graph]
        access_token = "${TOKEN}"
        agent_name = "$${literal}-${AGENT}"
        base_url = "http://127.0.0.1:${PORT}/"
        [[dataset]]
        id = "${DATASET}"
        name = "costs $5"
        """,
        {"TOKEN": "t0k", "AGENT": "shop", "PORT": "8080", "DATASET": "77"},
    )
    assert config.graph.access_token.get_secret_value() == "t0k"
    assert config.graph.agent_name == "${literal}-shop"
    assert config.graph.base_url == "http://127.0.0.1:8080"
    assert (config.datasets[0].id, config.datasets[0].name) == ("77", "costs $5")


def test_empty_optional_variables_mean_unset(tmp_path: Path) -> None:
    """An optional secret from an empty variable is None, not an empty secret."""
    config = load(
        tmp_path,
        GRAPH.replace("[graph]\n", '[graph]\napp_secret = "${S}"\n') + DATASET,
        {"S": ""},
    )
    assert config.graph.app_secret is None


def test_missing_variable_names_the_variable_key_and_line(tmp_path: Path) -> None:
    """An unset variable is one problem, at its key, and blocks no other check."""
    found = problems(
        tmp_path,
        MINIMAL
        + """\
        [channel.m]
        type = "email"
        host = "h"
        port = "${SMTP_PORT}"
        from = "a@b.c"
        to = ["d@e.f"]
        repeat_interval = 5
        """,
    )
    assert [(p.line, p.key) for p in found] == [
        (8, "channel.m.port"),
        (11, "channel.m.repeat_interval"),
    ]
    assert "environment variable SMTP_PORT is not set" in found[0].message
    assert "SMTP_PORT" in found[0].fix


def test_a_variable_value_is_validated_like_a_written_one(tmp_path: Path) -> None:
    """A value from the environment that is wrong is reported at its key."""
    problem = only_problem(
        tmp_path, MINIMAL + '[poll]\ninterval = "${EVERY}"\n', {"EVERY": "soon"}
    )
    assert (problem.line, problem.key) == (6, "poll.interval")
    assert '"soon" is not a duration' in problem.message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${}", "not a valid variable reference"),
        ("${A-B}", "not a valid"),
        ("${X", "without a closing"),
    ],
)
def test_malformed_references(tmp_path: Path, value: str, message: str) -> None:
    """A reference that is not ${NAME} is reported, with how to write it."""
    problem = only_problem(tmp_path, MINIMAL + f'[web]\nlisten = "{value}"\n')
    assert (problem.line, problem.key) == (6, "web.listen")
    assert message in problem.message


# -- paths ---------------------------------------------------------------------


def test_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """storage, rules and templates paths resolve from the file's folder."""
    folder = tmp_path / "etc"
    (folder / "my-templates").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    config = load_config(
        write(
            folder,
            MINIMAL
            + """
            [storage]
            path = "data/dq.db"
            [rules]
            paths = ["rules/*.toml", "/abs/other.toml"]
            [templates]
            path = "my-templates"
            """,
        ).relative_to(tmp_path),
        {},
    )
    assert config.source == folder / "dqwatch.toml"
    assert config.storage.path == folder / "data" / "dq.db"
    assert config.rules.paths == (str(folder / "rules" / "*.toml"), "/abs/other.toml")
    assert config.templates.path == folder / "my-templates"


# -- problems, one kind at a time ---------------------------------------------

# Text appended to MINIMAL (4 lines), so its first line is line 5.
EMAIL = "[channel.m]\ntype = 'email'\nhost = 'h'\nfrom = 'a@b.c'\nto = ['d@e.f']\n"
CONSOLE = "[channel.c]\ntype = 'console'\n"
ROUTE = "[[route]]\nto = ['c']\n"
SLACK = "[channel.c]\ntype = 'slack'\n"


def case(id: str, text: str, line: int, key: str, fragment: str) -> object:
    """One located problem: the text, its line and key, words of its message."""
    return pytest.param(text, line, key, fragment, id=id)


CASES = [
    case("unknown-key", "[web]\nlistne = 'x'\n", 6, "web.listne", '"listen"?'),
    case("unknown-table", "[[datasets]]\nid = '1'\n", 5, "datasets", '"dataset"?'),
    case("number-duration", "[poll]\ninterval = 30\n", 6, "poll.interval", '"30s"'),
    case("duration", "[storage]\nhistory = '9 d'\n", 6, "storage.history", "not a"),
    case("short-interval", "[poll]\ninterval = '5s'\n", 6, "poll.interval", "10s"),
    case(
        "jitter",
        "[poll]\ninterval = '1m'\njitter = '1m'\n",
        7,
        "poll.jitter",
        "shorter",
    ),
    case("jitter-default", "[poll]\ninterval = '30s'\n", 5, "poll.jitter", "shorter"),
    case(
        "dataset-id", "[[dataset]]\nid = 'px-1'\n", 6, "dataset[1].id", "not a number"
    ),
    case(
        "duplicate-id", "[[dataset]]\nid = 1001\n", 6, "dataset[1].id", "listed twice"
    ),
    case(
        "source",
        "[[dataset]]\nid = '2'\nsources = ['wbe']\n",
        7,
        "dataset[1].sources[0]",
        'did you mean "web"',
    ),
    case(
        "sources-twice",
        "[[dataset]]\nid = '2'\nsources = ['web', 'web']\n",
        7,
        "dataset[1].sources",
        '"web" twice',
    ),
    case(
        "no-sources",
        "[[dataset]]\nid = '2'\nsources = []\n",
        7,
        "dataset[1].sources",
        "empty",
    ),
    case(
        "edges",
        "[[discover]]\nbusiness_id = '5'\nedges = ['pixels']\n",
        7,
        "discover[0].edges[0]",
        "owned_pixels",
    ),
    case(
        "duplicate-business",
        "[[discover]]\nbusiness_id = '5'\n[[discover]]\nbusiness_id = '5'\n",
        8,
        "discover[1].business_id",
        "listed twice",
    ),
    case(
        "route-channel",
        "[[route]]\nto = [\n  'oncal',\n]\n[channel.oncall]\ntype = 'console'\n",
        7,
        "route[0].to[0]",
        'did you mean "oncall"',
    ),
    case("route-empty", "[[route]]\nto = []\n", 6, "route[0].to", "is empty"),
    case("route-no-to", "[[route]]\ncontinue = true\n", 5, "route[0].to", "add to = "),
    case(
        "route-severity",
        ROUTE + "match = { severity = 'crit' }\n" + CONSOLE,
        7,
        "route[0].match.severity[0]",
        'did you mean "critical"',
    ),
    case(
        "route-match-key",
        ROUTE + "match = { sevrity = 'info' }\n" + CONSOLE,
        7,
        "route[0].match.sevrity",
        'did you mean "severity"',
    ),
    case(
        "route-dataset",
        ROUTE + "match = { dataset = ['1001', 'Acme shop'] }\n" + CONSOLE,
        7,
        "route[0].match.dataset[1]",
        "not a number",
    ),
    case(
        "route-match-empty",
        ROUTE + "match = { owner = [] }\n" + CONSOLE,
        7,
        "route[0].match.owner",
        "remove the key",
    ),
    case(
        "type", "[channel.c]\ntype = 'sms'\n", 6, "channel.c.type", '"email", "slack"'
    ),
    case("no-type", "[channel.c]\nowners = []\n", 5, "channel.c.type", "add type ="),
    case("console-key", CONSOLE + "host = 'h'\n", 7, "channel.c.host", "unknown key"),
    case("slack-nothing", SLACK, 5, "channel.c", "needs a way to post"),
    case(
        "slack-both",
        SLACK + "webhook_url = 'https://h/x'\ntoken = 't'\nchannel = '#a'\n",
        8,
        "channel.c.token",
        "both",
    ),
    case(
        "slack-no-channel", SLACK + "token = 't'\n", 5, "channel.c.channel", "channel"
    ),
    case(
        "slack-webhook-channel",
        SLACK + "webhook_url = 'https://h/x'\nchannel = '#a'\n",
        8,
        "channel.c.channel",
        "only applies with token",
    ),
    case(
        "slack-url", SLACK + "webhook_url = 'h/x'\n", 7, "channel.c.webhook_url", "http"
    ),
    case(
        "tls", EMAIL + "tls = true\nstarttls = true\n", 10, "channel.m.tls", "both on"
    ),
    case("login", EMAIL + "username = 'u'\n", 5, "channel.m.password", "needs both"),
    case("port", EMAIL + "port = 0\n", 10, "channel.m.port", "from 1 to 65535"),
    case(
        "from",
        EMAIL.replace("a@b.c", "Me <a@b.c>"),
        8,
        "channel.m.from",
        "without a name",
    ),
    case(
        "to",
        EMAIL.replace("['d@e.f']", "['d@e.f',\n  'nobody']"),
        10,
        "channel.m.to[1]",
        "not a mail address",
    ),
    case(
        "to-string",
        EMAIL.replace("['d@e.f']", "'d@e.f'"),
        9,
        "channel.m.to",
        '["d@e.f"]',
    ),
    case(
        "missing-from",
        EMAIL.replace("from = 'a@b.c'\n", ""),
        5,
        "channel.m.from",
        'add from = "',
    ),
    case(
        "cron-fields", EMAIL + "digest = '0 8 * *'\n", 10, "channel.m.digest", "4 field"
    ),
    case(
        "cron-value",
        EMAIL + "digest = '0 25 * * *'\n",
        10,
        "channel.m.digest",
        "0 to 23",
    ),
    case(
        "cron-days",
        EMAIL + "digest = '0 8 1 * MON'\n",
        10,
        "channel.m.digest",
        "both the day",
    ),
    case("listen", "[web]\nlisten = 'localhost'\n", 6, "web.listen", "not host:port"),
    case("listen-ipv6", "[web]\nlisten = '::1:80'\n", 6, "web.listen", "[::1]:8787"),
    case("rules-paths", "[rules]\n", 5, "rules.paths", "remove [rules]"),
    case(
        "templates", "[templates]\npath = 'no'\n", 6, "templates.path", "does not exist"
    ),
    case("source-key", "source = 'x'\n" + MINIMAL, 1, "source", "unknown key"),
    case("wrong-type", "[web]\nlisten = 8787\n", 6, "web.listen", "double quotes"),
    case("not-a-table", "web = 'x'\n" + MINIMAL, 1, "web", "must be a table"),
    case(
        "single-table", "[discover]\nbusiness_id = '5'\n", 5, "discover", "[[discover]]"
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), CASES)
def test_each_problem_is_located(
    tmp_path: Path, text: str, line: int, key: str, fragment: str
) -> None:
    """Each kind of mistake is one problem naming its line, key and fix."""
    problem = only_problem(tmp_path, text if "[graph]" in text else MINIMAL + text)
    assert (problem.line, problem.key) == (line, key), str(problem)
    assert fragment in f"{problem.message}; {problem.fix}"
    assert problem.fix


@pytest.mark.parametrize(
    ("graph_keys", "key", "fragment"),
    [
        ("base_url = 'ftp://x'", "graph.base_url", "http or https"),
        ("api_version = '24.0'", "graph.api_version", '"v24.0"'),
        ("max_concurrency = 0", "graph.max_concurrency", "from 1 to 1000"),
        ("max_retries = 11", "graph.max_retries", "from 0 to 10"),
        ("batch_size = 51", "graph.batch_size", "from 0 to 50"),
        ("batch_size = true", "graph.batch_size", "not true/false"),
        ("timeout = '0s'", "graph.timeout", "longer than 0s"),
        ("timeout = '1h'", "graph.timeout", "at most 10m"),
        ("max_retris = 3", "graph.max_retris", 'did you mean "max_retries"'),
    ],
)
def test_graph_problems(
    tmp_path: Path, graph_keys: str, key: str, fragment: str
) -> None:
    """Problems in [graph] are located at their key, below the token line."""
    problem = only_problem(tmp_path, GRAPH + graph_keys + "\n" + DATASET)
    assert (problem.line, problem.key) == (3, key), str(problem)
    assert fragment in f"{problem.message}; {problem.fix}"


def test_missing_graph_table_and_token(tmp_path: Path) -> None:
    """A missing [graph] has no line; a missing token points at [graph]."""
    problem = only_problem(tmp_path, DATASET)
    assert (problem.line, problem.key, problem.message) == (None, "graph", "is missing")
    problem = only_problem(tmp_path, "\n[graph]\n" + DATASET)
    assert (problem.line, problem.key) == (2, "graph.access_token")
    assert "DQWATCH_ACCESS_TOKEN" in problem.fix


def test_nothing_to_watch(tmp_path: Path) -> None:
    """Without a dataset or a discover entry, the fix says how to add one."""
    problem = only_problem(tmp_path, GRAPH)
    assert problem.key == "dataset"
    assert "[[dataset]]" in problem.fix
    assert "[[discover]]" in problem.fix


def test_syntax_error_is_one_problem_with_line_and_column(tmp_path: Path) -> None:
    """Invalid TOML is reported at tomllib's position, and nothing else is."""
    problem = only_problem(tmp_path, MINIMAL + "[poll]\ninterval = 15m\n")
    assert problem.line == 6
    assert problem.message.startswith("invalid TOML at column")
    assert problem.fix


def test_missing_file(tmp_path: Path) -> None:
    """A config file that does not exist is a problem, not a traceback."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml", {})
    assert caught.value.problems[0].message == "file not found"


# -- every problem at once -----------------------------------------------------


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    """One load reports all problems, sorted by line, rendered FILE:LINE: key."""
    path = write(
        tmp_path,
        """\
        [graph]
        access_token = "${TOKEN}"
        max_concurrency = 5000
        [poll]
        interval = 60
        [[dataset]]
        id = "x1"
        [[route]]
        to = ["nobody"]
        [channel.c]
        type = "console"
        colour = "red"
        [web]
        listen = "nowhere"
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    found = caught.value.problems
    assert [(p.line, p.key) for p in found] == [
        (2, "graph.access_token"),
        (3, "graph.max_concurrency"),
        (5, "poll.interval"),
        (7, "dataset[0].id"),
        (9, "route[0].to[0]"),
        (12, "channel.c.colour"),
        (14, "web.listen"),
    ]
    lines = str(caught.value).splitlines()
    assert lines[1] == (
        f"{path}:3: graph.max_concurrency: 5000 is out of range; "
        "use a number from 1 to 1000"
    )
    assert all(line.startswith(f"{path}:") for line in lines)


# -- secrets -------------------------------------------------------------------

SECRETS = {
    "TOKEN": "tok-SECRET-aaaa",
    "APP": "app-SECRET-bbbb",
    "HOOK": "not a url SECRET-cccc",
    "BOT": "xoxb-SECRET-dddd",
    "PASS": "pw-SECRET-eeee",
}


def test_secrets_never_appear_in_problems(tmp_path: Path) -> None:
    """Secret values stay out of every message, even when they are invalid."""
    text = """\
        [graph]
        access_token = "${TOKEN}"
        app_secret = "${APP}"
        max_retries = "${TOKEN}"
        [[dataset]]
        id = "${APP}"
        [channel.a]
        type = "slack"
        webhook_url = "${HOOK}"
        [channel.b]
        type = "slack"
        token = "${BOT}"
        webhook_url = "https://hooks.example/${BOT}"
        [channel.c]
        type = "email"
        host = "${PASS}"
        from = "${PASS}"
        to = ["${BOT}"]
        password = "${PASS}"
        digest = "${PASS}"
        [[route]]
        to = ["${BOT}"]
        match = { severity = "${PASS}" }
        """
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, SECRETS)

    rendered = str(caught.value) + repr(caught.value.problems)
    assert len(caught.value.problems) >= 8
    assert "SECRET" not in rendered
    # The pydantic error, which quotes input values, is not chained.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_secrets_never_appear_in_reprs_or_dumps(tmp_path: Path) -> None:
    """A loaded config hides its secrets in repr, str, describe and JSON."""
    config = load_config(
        ROOT / "config.example.toml",
        {**EXAMPLE_ENV, "SLACK_WEBHOOK_URL": "https://hooks.example/SECRET-ffff"},
    )
    outputs = [repr(config), str(config), config.describe(), config.model_dump_json()]
    secrets = [EXAMPLE_ENV[k] for k in ("DQWATCH_ACCESS_TOKEN", "DQWATCH_APP_SECRET")]
    secrets += ["SECRET-ffff", EXAMPLE_ENV["SMTP_PASSWORD"]]
    assert not [s for s in secrets if any(s in text for text in outputs)]
