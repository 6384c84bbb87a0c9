"""Rendering notices into Slack blocks, email and console text; checking templates."""

from __future__ import annotations

import io
import shlex
from pathlib import Path

import pytest

from dqwatch.alerts import Alert
from dqwatch.notify.console import ConsoleNotifier
from dqwatch.notify.model import Message, Notice
from dqwatch.notify.render import (
    SLACK_SECTION_LIMIT,
    block_id,
    check_templates,
    email_parts,
    resolved_blocks,
    sample_messages,
    silence_command,
    slack_posts,
)
from dqwatch.notify.templates import Templates

HOSTILE = "<!channel> & <@U123>"


def notice(number: int, kind: str = "firing", **changes: object) -> Notice:
    """A notice for an EMQ drop on dataset 1001, with ``changes`` to its alert."""
    alert = Alert(
        rule="emq-drop",
        dataset_id="1001",
        source="web",
        event=f"Event{number}",
        key="",
        metric="emq",
        severity="warning",
        state="resolved" if kind == "resolved" else "firing",
        count=1,
        active_since=1764770400.0,
        firing_since=1764770400.0,
        value=5.9,
        before=7.8,
        summary=f"EMQ for Event{number} fell from 7.8 to 5.9",
        dataset_name="Acme web shop",
        owner="acme",
    ).evolve(**changes)
    return Notice(number, "oncall", kind, alert, 1764770400.0, "cycle-1")  # type: ignore[arg-type]


def section_texts(blocks: list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]  # type: ignore[index]


def test_packaged_templates_render_every_sample_cleanly() -> None:
    """The shipped templates pass the same check `dqwatch check` runs."""
    assert check_templates(Templates()) == []


def test_samples_cover_kinds_sources_builtins_and_hostile_text() -> None:
    """sample_messages exercises every branch a template may take."""
    notices = [n for m in sample_messages() for n in m.notices]
    assert {n.kind for n in notices} == {"firing", "repeat", "resolved"}
    assert {n.alert.source for n in notices} >= {"web", "offline"}
    assert {"dataset-unreachable", "token-invalid"} <= {n.alert.rule for n in notices}
    assert any(HOSTILE in n.alert.event for n in notices)
    assert any(HOSTILE in str(n.alert.details.get("description")) for n in notices)


def test_slack_message_names_dataset_and_escapes_outside_text() -> None:
    """The header names dataset and id; event names and API texts are escaped."""
    hostile = notice(1, event=f"Lead {HOSTILE}", details={"description": HOSTILE})
    [post] = slack_posts(Templates(), [hostile, notice(2)])
    header, *sections = section_texts(post.blocks)
    assert "Acme web shop" in header
    assert "1001" in header
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in sections[0]
    for text in [post.text, header, *sections]:
        assert "<!channel>" not in text
        assert "<@U123>" not in text
    assert "dqwatch silence add -c CONFIG --rule emq-drop" in sections[1]


def test_resolved_section_says_resolved_and_shows_the_value_now() -> None:
    """A resolved notice says so in words and shows the value it has now."""
    [post] = slack_posts(Templates(), [notice(1, "resolved", value=7.6)])
    section = section_texts(post.blocks)[1]
    assert "Resolved" in section
    assert "now *7.6*" in section
    assert "silence add" not in section


def test_long_datasets_split_into_parts_within_slack_limits() -> None:
    """90 alerts become three numbered messages, none over Slack's limits."""
    long_text = "x" * 10_000
    notices = [notice(i, details={"description": long_text}) for i in range(90)]
    posts = slack_posts(Templates(), notices)
    assert [len(p.notices) for p in posts] == [40, 40, 10]
    assert "part 3 of 3" in section_texts(posts[2].blocks)[0]
    for post in posts:
        assert len(post.blocks) <= 50
        assert all(len(t) <= SLACK_SECTION_LIMIT for t in section_texts(post.blocks))


def test_resolved_blocks_redraw_only_the_resolved_alert() -> None:
    """Editing the original message replaces one section and keeps the others."""
    templates = Templates()
    [post] = slack_posts(templates, [notice(1), notice(2)])
    resolved = notice(2, "resolved", value=7.7)
    blocks = resolved_blocks(templates, post.blocks, [resolved])
    assert blocks is not None
    assert blocks[2] == post.blocks[2]
    assert blocks[3]["block_id"] == block_id(resolved.alert.fingerprint)
    assert "Resolved" in blocks[3]["text"]["text"]
    assert resolved_blocks(templates, post.blocks, [notice(3, "resolved")]) is None


def test_silence_command_quotes_outside_text_for_the_shell() -> None:
    """An event name with spaces and quotes survives a shell unchanged."""
    alert = notice(1, event="Lead 'x' $(rm -rf)", key="email").alert
    words = shlex.split(silence_command(alert))
    assert words[words.index("--event") + 1] == "Lead 'x' $(rm -rf)"
    assert words[words.index("--key") + 1] == "email"
    assert words[:5] == ["dqwatch", "silence", "add", "-c", "CONFIG"]


def test_email_parts_escape_html_and_group_by_dataset() -> None:
    """HTML escapes outside text, plain text keeps it; datasets are grouped."""
    message = sample_messages()[-1]
    parts = email_parts(Templates(), message)
    assert parts.subject.startswith("[dqwatch] 5 firing, 1 still firing, 2 resolved: ")
    assert "Acme web shop, Globex store" in parts.subject
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in parts.html
    assert "<!channel>" not in parts.html
    assert HOSTILE in parts.text
    assert parts.text.index("Acme web shop (1234567890)") < parts.text.index(
        "Globex store (2233445566)"
    )


def test_email_subject_is_one_line_even_with_line_breaks_in_names() -> None:
    """A dataset name with a line break cannot inject a mail header."""
    message = Message("mail", (notice(1, dataset_name="Acme\r\nBcc: evil@x"),))
    subject = email_parts(Templates(), message).subject
    assert "\n" not in subject
    assert "\r" not in subject
    assert subject == "[dqwatch] 1 firing: Acme Bcc: evil@x"


async def test_console_prints_plain_text_without_escaping() -> None:
    """The console shows the same content as Slack, unescaped, to its stream."""
    stream = io.StringIO()
    console = ConsoleNotifier("console", Templates(), stream)
    sent = await console.send(Message("console", (notice(1, event=HOSTILE),)))
    printed = stream.getvalue()
    assert sent.refs == {}
    assert "Acme web shop (1001): 1 firing" in printed
    assert f"[warning] emq-drop · {HOSTILE} · web" in printed
    assert "&lt;" not in printed


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_user_template_overrides_the_packaged_one(tmp_path: Path) -> None:
    """A file in the templates folder replaces the packaged file of that name."""
    write(tmp_path, "slack_alert.md.j2", "ALERT {{ rule }} on {{ event }}")
    [post] = slack_posts(Templates(tmp_path), [notice(1, event=HOSTILE)])
    assert (
        section_texts(post.blocks)[1]
        == "ALERT emq-drop on &lt;!channel&gt; &amp; &lt;@U123&gt;"
    )
    assert "Acme web shop" in section_texts(post.blocks)[0]


def test_check_finds_a_misspelt_variable_with_its_line(tmp_path: Path) -> None:
    """A typo'd variable is reported as FILE:LINE naming the variable."""
    path = write(tmp_path, "slack_alert.md.j2", "{{ rule }}\n\n{{ sumary }}\n")
    [problem] = check_templates(Templates(tmp_path))
    assert problem.startswith(f"{path}:3: ")
    assert "'sumary' is undefined" in problem


def test_check_finds_a_typo_in_a_branch_only_resolved_alerts_take(
    tmp_path: Path,
) -> None:
    """Samples include resolved notices, so a typo in that branch is found."""
    text = (
        "{% for g in groups %}{% for a in g.alerts %}\n"
        "{% if a.kind == 'resolved' %}{{ a.valeu }}{% endif %}\n"
        "{% endfor %}{% endfor %}"
    )
    path = write(tmp_path, "email_body.txt.j2", text)
    [problem] = check_templates(Templates(tmp_path))
    assert problem.startswith(f"{path}:2: ")
    assert "valeu" in problem


def test_check_finds_a_syntax_error_with_its_line(tmp_path: Path) -> None:
    """A template that does not compile is reported at the line of the error."""
    path = write(tmp_path, "email_body.html.j2", "<p>\n{{ channel }}\n{% if %}\n</p>")
    [problem] = check_templates(Templates(tmp_path))
    assert problem.startswith(f"{path}:3: ")


def test_check_reports_a_misnamed_override(tmp_path: Path) -> None:
    """A file that would never be used because its name is misspelt is reported."""
    write(tmp_path, "slack_alret.md.j2", "{{ rule }}")
    write(tmp_path, "partials.j2", "helpers a user includes are fine")
    [problem] = check_templates(Templates(tmp_path))
    assert problem.startswith("slack_alret.md.j2:1: ")
    assert "rename it to slack_alert.md.j2" in problem


@pytest.mark.parametrize("flavour_name", ["email_subject.txt.j2", "console.txt.j2"])
def test_check_reports_errors_raised_while_rendering(
    tmp_path: Path, flavour_name: str
) -> None:
    """An expression failing at render time (not a typo) is located too."""
    path = write(tmp_path, flavour_name, "line one\n{{ firing + 'x' }}")
    [problem] = check_templates(Templates(tmp_path))
    assert problem.startswith(f"{path}:2: ")
