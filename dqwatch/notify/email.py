"""Email: one multipart (plain text and HTML) message per cycle, by SMTP.

TLS is always chosen explicitly: ``starttls = true`` upgrades the
connection or fails, ``tls = true`` speaks TLS from the first byte, and
neither sends in plain text. (Left to itself, aiosmtplib upgrades only when
the server offers STARTTLS, so a server that stops offering it would
silently receive the password and the mail unencrypted.) The channel logs
in only when ``username`` and ``password`` are set.

Failures are sorted for the outbox: a refused connection, a timeout or a
4xx answer is worth retrying; a 5xx answer (recipient refused, login
rejected) or a server that will not do the TLS asked for is permanent.
"""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from dqwatch.config import EmailChannel
from dqwatch.errors import DeliveryError
from dqwatch.notify.model import Message, Sent
from dqwatch.notify.render import email_parts
from dqwatch.notify.templates import Templates

__all__ = ["EmailNotifier"]

logger = logging.getLogger(__name__)

#: Seconds to connect, and to wait for each answer of the SMTP server.
TIMEOUT = 30.0


class EmailNotifier:
    """Mails every notice of a cycle to the channel's recipients (a ``Channel``)."""

    def __init__(
        self,
        name: str,
        config: EmailChannel,
        templates: Templates,
        *,
        timeout: float = TIMEOUT,
    ) -> None:
        self.name = name
        self._config = config
        self._templates = templates
        self._timeout = timeout
        self._password = config.password.get_secret_value() if config.password else ""

    def __repr__(self) -> str:
        return f"EmailNotifier({self.name!r}, {self._server})"

    @property
    def _server(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    async def send(self, message: Message) -> Sent:
        """Mail the message's notices, grouped by dataset; raises ``DeliveryError``."""
        parts = email_parts(self._templates, message)
        await self.send_mail(parts.subject, parts.text, parts.html)
        return Sent()

    async def send_mail(self, subject: str, text: str, html: str) -> None:
        """Send one multipart/alternative mail to every recipient of the channel.

        Raises ``DeliveryError``; ``permanent`` is set when retrying cannot
        help. A mail some recipients refused while others accepted counts
        as sent (resending would duplicate it for the others) and the
        refused addresses are logged.
        """
        mail = self._compose(subject, text, html)
        try:
            async with self._client() as smtp:
                refused, _ = await smtp.send_message(mail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise self._failure(error) from None
        if refused:
            logger.warning(
                "email channel %s: %s refused the mail for %s",
                self.name,
                self._server,
                ", ".join(f"{address} ({r.code})" for address, r in refused.items()),
            )

    def _compose(self, subject: str, text: str, html: str) -> EmailMessage:
        config = self._config
        mail = EmailMessage()
        # Header values may not contain line breaks.
        mail["Subject"] = " ".join(subject.split())
        mail["From"] = config.from_
        mail["To"] = ", ".join(config.to)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(
            "dqwatch", domain=config.from_.rpartition("@")[2]
        )
        # RFC 3834: tells auto-responders not to answer a machine.
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(text)
        mail.add_alternative(html, subtype="html")
        return mail

    def _client(self) -> aiosmtplib.SMTP:
        config = self._config
        logs_in = config.username is not None and config.password is not None
        return aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            start_tls=config.starttls,
            use_tls=config.tls,
            timeout=self._timeout,
            username=config.username if logs_in else None,
            password=self._password if logs_in else None,
        )

    def _failure(self, error: Exception) -> DeliveryError:
        where = f"email channel {self.name}: SMTP server {self._server}"
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in error.recipients]
            refused = ", ".join(f"{r.recipient} ({r.code})" for r in error.recipients)
            permanent = all(code >= 500 for code in codes)
            fix = f"check [channel.{self.name}] to" if permanent else "will retry"
            message = f"{where} refused every recipient: {refused}; {fix}"
            return DeliveryError(message, permanent=permanent)
        if isinstance(error, aiosmtplib.SMTPResponseException):
            return self._answered(where, error)
        if isinstance(error, ssl.SSLError):
            reason = self._clean(error.reason or type(error).__name__)
            return DeliveryError(
                f"{where}: TLS failed ({reason}); the outbox will retry"
            )
        if isinstance(error, OSError | TimeoutError):
            reason = self._clean(str(error) or type(error).__name__)
            return DeliveryError(f"{where} could not be reached: {reason}; will retry")
        return self._refused_tls_or_auth(where, error)

    def _answered(
        self, where: str, error: aiosmtplib.SMTPResponseException
    ) -> DeliveryError:
        said = f"{where} answered {error.code} {self._clean(error.message)}"
        if error.code < 500:
            return DeliveryError(f"{said}; the outbox will retry")
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            fix = f"check username and password of [channel.{self.name}]"
        else:
            fix = "retrying will not help"
        return DeliveryError(f"{said}; {fix}", permanent=True)

    def _refused_tls_or_auth(self, where: str, error: Exception) -> DeliveryError:
        # aiosmtplib reports a missing STARTTLS or AUTH extension as a bare
        # SMTPException; both need a change of config or server, not a retry.
        what = self._clean(str(error))
        if self._config.starttls and "STARTTLS" in what.upper():
            fix = (
                "the mail was not sent in plain text; set tls = true if the server "
                "speaks implicit TLS (usually port 465), or remove starttls only if "
                "an unencrypted connection is acceptable"
            )
        else:
            fix = f"check [channel.{self.name}] against what the server supports"
        return DeliveryError(f"{where}: {what}; {fix}", permanent=True)

    def _clean(self, text: str) -> str:
        """Server text made safe to show: one line, short, never the password."""
        text = " ".join(str(text).split())[:200]
        return text.replace(self._password, "********") if self._password else text
