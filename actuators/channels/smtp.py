"""E-mail channel: the notification as a UTF-8 mail over SMTP (plain, STARTTLS or SSL), off the loop."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator

from actuators.channels.base import Channel, ChannelSettings, DeliveryResult, secret_from
from actuators.response import Notification


class SmtpConfig(ChannelSettings):
    """An SMTP server that sends notifications to the recipients' e-mail addresses."""

    default_serves: ClassVar[tuple[str, ...]] = ("email",)

    type: Literal["smtp"] = "smtp"
    host: str = Field(min_length=1, description="SMTP server host")
    port: int | None = Field(None, ge=1, le=65535, description="Port; default 587 (starttls), 465 (ssl), 25")
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="Transport security")
    ca_file: Path | None = Field(None, description="CA bundle to check the server; the system store if unset")
    username: str | None = Field(None, description="Login user; no login if unset")
    password: SecretStr | None = Field(None, description="Login password")
    password_file: Path | None = Field(None, description="File holding the password (instead of `password`)")
    from_address: str = Field(min_length=3, description="Sender, e.g. 'SafeTwin <safetwin@example.org>'")
    subject: str = Field(
        "SafeTwin {alarm_id}: {head}", description="Subject; {alarm_id}, {head}: start of text"
    )

    @model_validator(mode="after")
    def _read_secret(self) -> SmtpConfig:
        self.password = secret_from(self.password, self.password_file, "password")
        self.password_file = None
        if self.username is not None and self.password is None:
            raise ValueError(f"channel {self.name}: username is set but no password (or password_file)")
        login = (self.username or "") + (self.password.get_secret_value() if self.password else "")
        if not login.isascii():
            raise ValueError(f"channel {self.name}: SMTP login sends user name and password as ASCII only")
        return self

    def build(self) -> Channel:
        return SmtpChannel(self)


class SmtpChannel(Channel):
    """One mail per notification, to every recipient with an e-mail address."""

    def __init__(self, config: SmtpConfig) -> None:
        super().__init__(config.name, config.served())
        self.config = config

    def message(self, note: Notification, to: list[str]) -> EmailMessage:
        """The mail for `note`."""
        msg = EmailMessage()
        head = note.text if len(note.text) <= 40 else note.text[:39] + "…"
        msg["Subject"] = self.config.subject.format(alarm_id=note.alarm_id, head=head)
        msg["From"] = self.config.from_address
        msg["To"] = ", ".join(to)
        msg["Date"] = format_datetime(datetime.fromtimestamp(note.ts / 1000, UTC))
        msg["Message-ID"] = make_msgid(idstring=note.id, domain="safetwin")
        msg.set_content(f"{note.text}\n\n-- \nSafeTwin {note.alarm_id}\n", charset="utf-8")
        return msg

    async def deliver(self, note: Notification) -> DeliveryResult:
        to = [c.email for c in note.recipients if c.email]
        if not to:
            return DeliveryResult(
                False, f"none of the {len(note.recipients)} recipient(s) has an e-mail address", False
            )
        return await asyncio.to_thread(self._send, self.message(note, to), to)

    def _send(self, msg: EmailMessage, to: list[str]) -> DeliveryResult:
        cfg = self.config
        context = ssl.create_default_context(cafile=cfg.ca_file) if cfg.security != "none" else None
        port = cfg.port or {"starttls": 587, "ssl": 465, "none": 25}[cfg.security]
        try:
            smtp: smtplib.SMTP = (
                smtplib.SMTP_SSL(cfg.host, port, timeout=cfg.timeout_s, context=context)
                if cfg.security == "ssl"
                else smtplib.SMTP(cfg.host, port, timeout=cfg.timeout_s)
            )
            with smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=context)
                if cfg.username is not None and cfg.password is not None:
                    smtp.login(cfg.username, cfg.password.get_secret_value())
                refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as err:
            return DeliveryResult(False, f"every recipient refused: {_refusals(err.recipients)}", False)
        except smtplib.SMTPAuthenticationError as err:
            why = f"login refused ({err.smtp_code}); check username and password"
            return DeliveryResult(False, why, False)
        except smtplib.SMTPResponseException as err:
            permanent = 500 <= err.smtp_code < 600
            return DeliveryResult(False, f"SMTP {err.smtp_code}: {_text(err.smtp_error)}", not permanent)
        except (smtplib.SMTPException, OSError) as err:
            return DeliveryResult(False, f"{type(err).__name__}: {err or 'no answer'}")
        if refused:
            return DeliveryResult(True, f"sent to {len(to) - len(refused)}; refused {_refusals(refused)}")
        return DeliveryResult(True, f"sent to {len(to)} address(es)")


def _text(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_text(why)})" for addr, (code, why) in refused.items())
