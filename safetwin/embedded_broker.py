"""The in-process MQTT broker (amqtt) used by `safetwin run` on embedded defaults.

For development and demos only: production points `mqtt.url` at Mosquitto or another broker.
"""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

log = logging.getLogger(__name__)


class EmbeddedBroker:
    """Start and stop an amqtt broker on the running event loop."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        config: dict[str, Any] = {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 10_000}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)

    async def start(self) -> None:
        try:
            await self._broker.start()
        except Exception as err:
            raise OSError(
                f"the embedded MQTT broker cannot listen on {self.host}:{self.port} ({err}); "
                "free the port or set SAFETWIN_MQTT__EMBEDDED_PORT"
            ) from err
        log.info("embedded MQTT broker listening on mqtt://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        await self._broker.shutdown()
