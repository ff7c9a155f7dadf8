"""Webhook channel: POSTs the notification as JSON, signed with HMAC-SHA256 when a secret is set."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import ClassVar, Literal

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


def signature(secret: bytes, body: bytes) -> str:
    """The signature header value: 'sha256=' and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookConfig(ChannelSettings):
    """An HTTP endpoint that receives every notification it serves as JSON."""

    default_serves: ClassVar[tuple[str, ...]] = ("webhook",)

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="Endpoint, http:// or https://")
    secret: SecretStr | None = Field(None, description="Key of the HMAC-SHA256 signature of the body")
    secret_file: Path | None = Field(None, description="File holding the secret (instead of `secret`)")
    signature_header: str = Field("X-SafeTwin-Signature", description="Header carrying 'sha256=<hex>'")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="after")
    def _read_secret(self) -> WebhookConfig:
        self.secret = secret_from(self.secret, self.secret_file, "secret")
        self.secret_file = None
        return self

    def build(self) -> Channel:
        return WebhookChannel(self)


class WebhookChannel(Channel):
    """POST the `Notification` model as JSON; receivers de-duplicate retries by X-SafeTwin-Notification."""

    def __init__(self, config: WebhookConfig) -> None:
        super().__init__(config.name, config.served())
        self.config = config

    def request_headers(self, body: bytes) -> dict[str, str]:
        """Headers of the request carrying `body`, the signature among them."""
        headers = {"Content-Type": "application/json", **self.config.headers}
        if self.config.secret is not None:
            key = self.config.secret.get_secret_value().encode()
            headers[self.config.signature_header] = signature(key, body)
        return headers

    async def deliver(self, note: Notification) -> DeliveryResult:
        body = note.model_dump_json().encode()
        headers = self.request_headers(body)
        headers["X-SafeTwin-Notification"] = note.id
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s, trust_env=False) as client:
                response = await client.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as err:
            return DeliveryResult(False, f"{type(err).__name__}: {err or 'no answer'}")
        return http_outcome(response.status_code, response.text)
