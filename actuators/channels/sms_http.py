"""SMS channel: one request per phone to an SMS gateway over HTTP, from a URL and a body template."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import quote, quote_plus

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from actuators.channels.base import (
    Channel,
    ChannelSettings,
    DeliveryResult,
    check_http_url,
    http_outcome,
    secret_from,
)
from actuators.response import Notification

ContentType = Literal["application/json", "application/x-www-form-urlencoded", "text/plain"]


class SmsHttpConfig(ChannelSettings):
    """An SMS gateway: `{phone}` and `{text}` in the URL and body are replaced, escaped for each."""

    default_serves: ClassVar[tuple[str, ...]] = ("sms",)

    type: Literal["sms_http"] = "sms_http"
    url: str = Field(description="Gateway URL; may hold {phone} and {text} (URL-encoded there)")
    method: Literal["POST", "PUT", "GET"] = Field("POST", description="HTTP method")
    content_type: ContentType = Field("application/json", description="How the body template is escaped")
    body_template: str = Field(
        '{"to": "{phone}", "text": "{text}"}', description="Request body with {phone} and {text}"
    )
    auth_header: str = Field("Authorization", description="Header that carries auth_token")
    auth_token: SecretStr | None = Field(None, description="Header value, e.g. 'Bearer <token>'")
    auth_token_file: Path | None = Field(None, description="File holding auth_token")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")
    success_contains: str | None = Field(
        None, description="Text a 2xx answer must contain to count as sent (gateways that say 200 and fail)"
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="after")
    def _check(self) -> SmsHttpConfig:
        self.auth_token = secret_from(self.auth_token, self.auth_token_file, "auth_token")
        self.auth_token_file = None
        sent = self.url + (self.body_template if self.method != "GET" else "")
        for field in ("{phone}", "{text}"):
            if field not in sent:
                raise ValueError(f"channel {self.name}: {field} appears in neither url nor body_template")
        return self

    def build(self) -> Channel:
        return SmsHttpChannel(self)


def _escape(value: str, content_type: ContentType) -> str:
    if content_type == "application/json":
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if content_type == "application/x-www-form-urlencoded":
        return quote_plus(value)
    return value


def fill(template: str, phone: str, text: str, escape: ContentType | Literal["url"]) -> str:
    """`template` with {phone} and {text} replaced, escaped for where they go."""

    def esc(value: str) -> str:
        return quote(value, safe="") if escape == "url" else _escape(value, escape)

    return template.replace("{phone}", esc(phone)).replace("{text}", esc(text))


class SmsHttpChannel(Channel):
    """Texts every recipient with a phone; a retry texts only the phones not yet reached."""

    def __init__(self, config: SmsHttpConfig) -> None:
        super().__init__(config.name, config.served())
        self.config = config
        self._reached: OrderedDict[str, set[str]] = OrderedDict()  # notification id -> phones done

    async def deliver(self, note: Notification) -> DeliveryResult:
        phones = list(dict.fromkeys(c.phone for c in note.recipients if c.phone))
        if not phones:
            who = len(note.recipients)
            return DeliveryResult(False, f"none of the {who} recipient(s) has a phone", False)
        reached = self._reached.setdefault(note.id, set())
        self._reached.move_to_end(note.id)
        while len(self._reached) > 1000:
            self._reached.popitem(last=False)
        failures: list[tuple[str, DeliveryResult]] = []
        async with httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False) as client:
            for phone in phones:
                if phone in reached:
                    continue
                result = await self._send(client, phone, note.text)
                if result.ok:
                    reached.add(phone)
                else:
                    failures.append((phone, result))
        if not failures:
            return DeliveryResult(True, f"sent to {len(phones)} phone(s)")
        detail = "; ".join(f"{phone}: {r.detail}" for phone, r in failures)
        return DeliveryResult(
            False, f"{len(reached)} of {len(phones)} sent; {detail}", any(r.retryable for _, r in failures)
        )

    async def _send(self, client: httpx.AsyncClient, phone: str, text: str) -> DeliveryResult:
        cfg = self.config
        headers = dict(cfg.headers)
        if cfg.auth_token is not None:
            headers[cfg.auth_header] = cfg.auth_token.get_secret_value()
        content: bytes | None = None
        if cfg.method != "GET":
            headers["Content-Type"] = f"{cfg.content_type}; charset=utf-8"
            content = fill(cfg.body_template, phone, text, cfg.content_type).encode()
        try:
            response = await client.request(
                cfg.method, fill(cfg.url, phone, text, "url"), content=content, headers=headers
            )
        except httpx.HTTPError as err:
            return DeliveryResult(False, f"{type(err).__name__}: {err or 'no answer'}")
        result = http_outcome(response.status_code, response.text)
        if result.ok and cfg.success_contains is not None and cfg.success_contains not in response.text:
            body = " ".join(response.text.split())[:200]
            missing = f"without {cfg.success_contains!r}"
            return DeliveryResult(False, f"HTTP {response.status_code} {missing}: {body}")
        return result
