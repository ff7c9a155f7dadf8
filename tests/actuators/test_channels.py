"""Each notification channel driver against a real server: webhook, SMTP e-mail, SMS gateway."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from actuators.channels.settings import NotificationSettings
from actuators.channels.sms_http import SmsHttpConfig
from actuators.channels.smtp import SmtpConfig
from actuators.channels.webhook import WebhookConfig
from actuators.response import Notification
from core.errors import SettingsError
from safetwin.settings import load
from tests.actuators.channel_servers import http_recorder, note, self_signed, smtp_server


async def test_webhook_posts_the_notification_signed_with_the_secret() -> None:
    n = note(["webhook"])
    with http_recorder() as server:
        channel = WebhookConfig(name="ops-hook", url=f"{server.url}/hook", secret="s3cret").build()
        result = await channel.deliver(n)
    assert result.ok, result.detail
    [seen] = server.requests
    assert seen.method == "POST" and seen.path == "/hook"
    expected = "sha256=" + hmac.new(b"s3cret", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["X-SafeTwin-Signature"] == expected
    assert seen.headers["X-SafeTwin-Notification"] == n.id
    got = Notification.model_validate_json(seen.body)
    assert got.text == n.text and got.alarm_id == "alm-42"


async def test_webhook_secret_from_a_file_and_no_signature_without_one(tmp_path: Path) -> None:
    (tmp_path / "hook-secret").write_text("from-file\n")
    with http_recorder() as server:
        signed = WebhookConfig(name="a", url=server.url, secret_file=tmp_path / "hook-secret").build()
        plain = WebhookConfig(name="b", url=server.url).build()
        assert (await signed.deliver(note(["webhook"]))).ok
        assert (await plain.deliver(note(["webhook"]))).ok
    first, second = server.requests
    assert first.headers["X-SafeTwin-Signature"] == (
        "sha256=" + hmac.new(b"from-file", first.body, hashlib.sha256).hexdigest()
    )
    assert "X-SafeTwin-Signature" not in second.headers


async def test_webhook_server_error_is_a_retryable_failure_and_client_error_is_not() -> None:
    with http_recorder(statuses=[503, 400], answer="overloaded") as server:
        channel = WebhookConfig(name="h", url=server.url).build()
        busy = await channel.deliver(note(["webhook"]))
        refused = await channel.deliver(note(["webhook"]))
    assert not busy.ok and busy.retryable and "503" in busy.detail and "overloaded" in busy.detail
    assert not refused.ok and not refused.retryable and "400" in refused.detail


async def test_smtp_mails_the_recipients_with_chinese_text_intact() -> None:
    n = note(["email"])
    with smtp_server() as (port, mails):
        channel = SmtpConfig(
            name="mail",
            host="127.0.0.1",
            port=port,
            security="none",
            from_address="SafeTwin <st@example.org>",
        ).build()
        result = await channel.deliver(n)
    assert result.ok, result.detail
    [(rcpts, msg)] = mails
    assert rcpts == ["zhang@example.org"]  # 李姐 has no e-mail address
    assert n.text in msg.get_content()
    assert "化粪池硫化氢超标" in str(msg["Subject"])
    assert msg["From"] == "SafeTwin <st@example.org>"


@pytest.mark.parametrize("security", ["starttls", "ssl"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_smtp_over_tls_with_a_login_from_a_secret_file(tmp_path: Path, security: str) -> None:
    cert = self_signed(tmp_path)
    (tmp_path / "smtp-password").write_text("p@ss w0rd\n")
    with smtp_server(security, cert, login=("safetwin", "p@ss w0rd")) as (port, mails):  # type: ignore[arg-type]
        config = {
            "type": "smtp", "name": "mail", "host": "127.0.0.1", "port": port, "security": security,
            "ca_file": str(cert[0]), "username": "safetwin", "password_file": str(tmp_path / "smtp-password"),
            "from_address": "st@example.org",
        }  # fmt: skip
        channel = NotificationSettings.model_validate({"channels": [config]}).channels[0].build()
        result = await channel.deliver(note(["email"]))
        wrong = SmtpConfig.model_validate({**config, "password_file": None, "password": "nope"}).build()
        refused = await wrong.deliver(note(["email"]))
    assert result.ok, result.detail
    assert len(mails) == 1
    assert not refused.ok and not refused.retryable and "login refused" in refused.detail


async def test_smtp_without_an_address_fails_without_retry_and_a_dead_server_with_retry() -> None:
    n = note(["email"]).model_copy(update={"recipients": note([]).recipients[1:]})
    channel = SmtpConfig(name="m", host="127.0.0.1", port=1, security="none", from_address="a@b.c").build()
    nobody = await channel.deliver(n)
    assert not nobody.ok and not nobody.retryable and "e-mail address" in nobody.detail
    down = await channel.deliver(note(["email"]))
    assert not down.ok and down.retryable and "Connection" in down.detail


async def test_sms_gateway_gets_each_phone_and_the_text_with_the_token() -> None:
    n = note(["sms"])
    with http_recorder() as server:
        channel = SmsHttpConfig(name="sms", url=f"{server.url}/send", auth_token="Bearer t0k").build()
        result = await channel.deliver(n)
    assert result.ok, result.detail
    bodies = [json.loads(s.body) for s in server.requests]
    assert bodies == [{"to": "13800000001", "text": n.text}, {"to": "13800000002", "text": n.text}]
    assert all(s.headers["Authorization"] == "Bearer t0k" for s in server.requests)


async def test_sms_gateway_by_get_with_url_placeholders_and_a_success_marker() -> None:
    n = note(["sms"]).model_copy(update={"text": "紧急 & 撤离"})
    with http_recorder(answer='{"code": 0}') as server:
        url = f"{server.url}/sms?m={{phone}}&c={{text}}"
        ok = SmsHttpConfig(name="g", url=url, method="GET", success_contains='"code": 0').build()
        assert (await ok.deliver(n)).ok
        picky = SmsHttpConfig(name="p", url=url, method="GET", success_contains="OK").build()
        said_200_but_failed = await picky.deliver(n)
    query = parse_qs(urlsplit(server.requests[0].path).query)
    assert query == {"m": ["13800000001"], "c": ["紧急 & 撤离"]}
    assert not said_200_but_failed.ok and "without 'OK'" in said_200_but_failed.detail


async def test_sms_retry_texts_only_the_phones_not_yet_reached() -> None:
    n = note(["sms"])
    with http_recorder() as server:
        server.fail_phones["13800000002"] = 1
        channel = SmsHttpConfig(
            name="s",
            url=server.url,
            content_type="application/x-www-form-urlencoded",
            body_template="to={phone}&msg={text}",
        ).build()
        first = await channel.deliver(n)
        second = await channel.deliver(n)
    assert not first.ok and first.retryable and "1 of 2 sent" in first.detail
    assert second.ok
    phones = [parse_qs(s.body.decode())["to"][0] for s in server.requests]
    assert phones == ["13800000001", "13800000002", "13800000002"]
    assert parse_qs(server.requests[0].body.decode())["msg"] == [n.text]


def test_settings_pick_the_driver_by_type_and_refuse_bad_configs(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("mail-password\n")
    settings = NotificationSettings.model_validate(
        {
            "channels": [
                {"type": "webhook", "name": "hook", "url": "https://x.org/h", "serves": ["push", "webhook"]},
                {
                    "type": "smtp",
                    "name": "mail",
                    "host": "mx",
                    "from_address": "a@b.c",
                    "username": "u",
                    "password_file": str(tmp_path / "pw"),
                },
                {"type": "sms_http", "name": "sms", "url": "https://sms.example.org/send"},
            ]
        }
    )
    hook, mail, sms = settings.channels
    assert isinstance(mail, SmtpConfig) and mail.password is not None
    assert mail.password.get_secret_value() == "mail-password"
    assert "mail-password" not in repr(settings)
    assert hook.served() == {"push", "webhook"} and mail.served() == {"email"} and sms.served() == {"sms"}
    bad = [
        {"channels": [{"type": "fax", "name": "f"}]},
        {"channels": [{"type": "sms_http", "name": "s", "url": "https://x/", "body_template": "{text}"}]},
        {"channels": [{"type": "webhook", "name": "h", "url": "ftp://x/"}]},
        {"channels": [{"type": "webhook", "name": "h", "url": "http://x/"}] * 2},
        {"channels": [{"type": "smtp", "name": "m", "host": "h", "from_address": "a@b.c", "username": "u"}]},
        {
            "channels": [
                {
                    "type": "smtp",
                    "name": "m",
                    "host": "h",
                    "from_address": "a@b.c",
                    "username": "u",
                    "password": "密码",
                }
            ]
        },
    ]
    for raw in bad:
        with pytest.raises(ValidationError):
            NotificationSettings.model_validate(raw)


def test_channels_come_from_the_environment_with_secrets_from_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("Bearer from-a-file\n")
    channels = [{"type": "sms_http", "name": "sms", "url": "https://sms.example.org/send",
                 "auth_token_file": str(tmp_path / "token")}]  # fmt: skip
    monkeypatch.setenv("SAFETWIN_NOTIFICATIONS__CHANNELS", json.dumps(channels))
    monkeypatch.setenv("SAFETWIN_NOTIFICATIONS__MAX_ATTEMPTS", "5")
    monkeypatch.setenv("SAFETWIN_PERMITS__VENTILATION_MIN_S", "900")
    settings = load()
    [sms] = settings.notifications.channels
    assert isinstance(sms, SmsHttpConfig) and sms.auth_token is not None
    assert sms.auth_token.get_secret_value() == "Bearer from-a-file"
    assert settings.notifications.max_attempts == 5 and settings.permits.ventilation_min_s == 900
    monkeypatch.setenv(
        "SAFETWIN_NOTIFICATIONS__CHANNELS", json.dumps([{**channels[0], "url": "sms.example.org"}])
    )
    with pytest.raises(SettingsError, match=r"notifications\.channels"):
        load()
