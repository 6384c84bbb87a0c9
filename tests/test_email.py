"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import email.policy
import importlib.util
import shlex
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from dqwatch.config import EmailChannel
from dqwatch.errors import DeliveryError
from dqwatch.notify.email import EmailNotifier
from dqwatch.notify.model import Message
from dqwatch.notify.render import sample_messages
from dqwatch.notify.templates import Templates
from tests.conftest import free_port

PASSWORD = "smtp-pass-9f8e7d"
HOSTILE = "<!channel> & <@U123>"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses on request."""

    mails: list[EmailMessage] = field(default_factory=list)
    encrypted: list[bool] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append(parsed)
        self.encrypted.append(session.ssl is not None)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=password == PASSWORD, handled=False)


@pytest.fixture
def run_server() -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Start aiosmtpd servers (plain unless told otherwise); stop them afterwards."""
    controllers: list[Controller] = []

    def start(**smtp_options: Any) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        if smtp_options.pop("login", False):
            smtp_options.update(
                authenticator=inbox.authenticate, auth_require_tls=False
            )
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **smtp_options)
        controller.start()
        controllers.append(controller)
        return inbox, port

    yield start
    for controller in controllers:
        controller.stop()


def notifier(port: int, timeout: float = 2.0, **keys: Any) -> EmailNotifier:
    config = EmailChannel.model_validate(
        {
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "from": "dqwatch@agency.example",
            "to": ["marketing@acme.example", "ops@acme.example"],
        }
        | keys
    )
    return EmailNotifier("acme-mail", config, Templates(), timeout=timeout)


def every_notice() -> Message:
    """One cycle's notices for four datasets, hostile text included."""
    return sample_messages()[-1]


def parts(mail: EmailMessage) -> tuple[str, str]:
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


async def test_mail_is_multipart_text_and_html(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """One multipart/alternative mail: plain text as written, HTML escaped."""
    inbox, port = run_server()
    sent = await notifier(port).send(every_notice())
    [mail] = inbox.mails
    text, html = parts(mail)
    assert sent.refs == {}
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["From"] == "dqwatch@agency.example"
    assert mail["To"] == "marketing@acme.example, ops@acme.example"
    assert mail["Subject"].startswith(
        "[dqwatch] 5 firing, 1 still firing, 2 resolved: "
    )
    assert f"Lead {HOSTILE}" in text
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in html
    assert "<!channel>" not in html
    assert "<@U123>" not in html


async def test_one_mail_groups_every_dataset_by_name_and_id(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """Every dataset of the cycle appears once, named and numbered, in one mail."""
    inbox, port = run_server()
    await notifier(port).send(every_notice())
    [mail] = inbox.mails
    text, html = parts(mail)
    headings = [
        "Acme web shop (1234567890)",
        "Globex store (2233445566)",
        f"Initech {HOSTILE} shop (3344556677)",
        "The access token (every dataset)",
    ]
    positions = [text.index(heading) for heading in headings]
    assert positions == sorted(positions)
    assert "Globex store <span" in html
    assert "(2233445566)" in html
    assert "This alert is resolved: the value is now 81." in text


async def test_starttls_without_server_support_fails_instead_of_plaintext(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """starttls = true against a server without STARTTLS sends nothing, permanently."""
    inbox, port = run_server()
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, starttls=True).send(every_notice())
    assert caught.value.permanent
    assert "not sent in plain text" in str(caught.value)
    assert inbox.mails == []


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made with cryptography or openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if importlib.util.find_spec("cryptography") is not None:
        _with_cryptography(cert, key)
    elif shutil.which("openssl"):
        command = shlex.split(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
            "-nodes -days 1 -subj /CN=localhost "
            "-addext subjectAltName=IP:127.0.0.1,DNS:localhost"
        )
        command += ["-keyout", str(key), "-out", str(cert)]
        subprocess.run(command, check=True, capture_output=True)
    else:
        pytest.skip("needs the cryptography package or the openssl command")
    return cert, key


def _with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


async def test_starttls_upgrades_before_anything_is_sent(
    run_server: Callable[..., tuple[Inbox, int]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With STARTTLS offered, the mail and the login travel encrypted."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = run_server(tls_context=context, require_starttls=True, login=True)
    # The client trusts the test certificate the way it trusts any CA file.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    login = {"username": "acme", "password": PASSWORD}
    await notifier(port, starttls=True, **login).send(every_notice())
    assert inbox.logins == [("acme", PASSWORD)]
    assert inbox.encrypted == [True]


async def test_logs_in_only_when_credentials_are_set(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """username and password log in; without them no AUTH is attempted."""
    inbox, port = run_server(login=True)
    await notifier(port, username="acme", password=PASSWORD).send(every_notice())
    await notifier(port).send(every_notice())
    assert inbox.logins == [("acme", PASSWORD)]
    assert len(inbox.mails) == 2


async def test_rejected_login_is_permanent_and_hides_the_password(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """A 535 answer stops retries, names the keys to fix and never the password."""
    _, port = run_server(login=True)
    wrong = "wrong-pass-0451"
    with pytest.raises(DeliveryError) as caught:
        await notifier(port, username="acme", password=wrong).send(every_notice())
    assert caught.value.permanent
    assert "535" in str(caught.value)
    assert "check username and password of [channel.acme-mail]" in str(caught.value)
    assert wrong not in str(caught.value)
    assert wrong not in repr(notifier(port, username="acme", password=wrong))


async def test_refused_connection_is_transient() -> None:
    """Nobody listening: a transient error the outbox will retry."""
    with pytest.raises(DeliveryError) as caught:
        await notifier(free_port()).send(every_notice())
    assert not caught.value.permanent
    assert "could not be reached" in str(caught.value)


async def test_silent_server_times_out_as_transient() -> None:
    """A server that accepts but never greets fails within the timeout."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(DeliveryError) as caught:
            await notifier(port, timeout=0.2).send(every_notice())
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("answer", "permanent"),
    [("550 5.1.1 No such user", True), ("451 4.3.0 Try again later", False)],
)
async def test_refused_recipients(
    run_server: Callable[..., tuple[Inbox, int]], answer: str, permanent: bool
) -> None:
    """Every recipient refused: 5xx is permanent, 4xx is retried."""
    inbox, port = run_server()
    inbox.refuse = {"marketing@acme.example": answer, "ops@acme.example": answer}
    with pytest.raises(DeliveryError) as caught:
        await notifier(port).send(every_notice())
    assert caught.value.permanent is permanent
    assert "marketing@acme.example" in str(caught.value)
    assert inbox.mails == []


async def test_partly_refused_mail_counts_as_sent(
    run_server: Callable[..., tuple[Inbox, int]], caplog: pytest.LogCaptureFixture
) -> None:
    """One recipient refused, one accepted: sent, and the refusal is logged."""
    inbox, port = run_server()
    inbox.refuse = {"ops@acme.example": "550 5.1.1 No such user"}
    await notifier(port).send(every_notice())
    assert len(inbox.mails) == 1
    assert "ops@acme.example (550)" in caplog.text


async def test_send_mail_sends_what_it_is_given(
    run_server: Callable[..., tuple[Inbox, int]],
) -> None:
    """Digests call send_mail directly; a line break cannot split the subject."""
    inbox, port = run_server()
    await notifier(port).send_mail("Digest\nfor acme", "plain body", "<p>html body</p>")
    [mail] = inbox.mails
    text, html = parts(mail)
    assert mail["Subject"] == "Digest for acme"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert text.strip() == "plain body"
    assert html.strip() == "<p>html body</p>"
