"""A confined-space permit end to end through a real Mosquitto: refused before ventilation, granted
after, revoked with stop-work (speaker command on the wire, SMS at a real gateway) on an H2S spike.

Windows are seconds instead of minutes so the timeline runs in the test; the code is the shipped one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
import pytest

from actuators.permit_models import PermitRefused, PermitRequest, PermitStatus
from core.contract import Command, now_ms
from safetwin.runtime import SafeTwin
from tests.actuators.channel_servers import http_recorder
from tests.fixtures.mosquitto import MosquittoBroker
from tests.helpers import Publisher, eventually
from tests.ingest.test_end_to_end import make_settings, running

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]

TWIN = """
version: 1
name: 有限空间
parties:
  - {id: pm, name: 物业公司, kind: property_company, contacts: [{name: 物业值班, phone: '13900000009'}]}
sites:
  - id: s1
    name: 澜景社区
    location: {lat: 22.72, lon: 114.05}
    parties: {owner: pm}
    spaces:
      - id: tank-1
        name: 1号化粪池
        kind: septic_tank
        devices:
          - {id: gas-1, kind: multi_gas}
          - {id: fan-1, kind: fan}
          - {id: spk-1, kind: speaker}
"""

CLEAN = {"o2": 20.8, "lel": 0.0, "ch4": 0.0, "h2s": 0.5, "co": 2.0}


async def air(pub: Publisher, app: SafeTwin, seconds: float, **over: float) -> None:
    """The four-gas monitor reports every 0.2 s for `seconds`."""
    end = asyncio.get_running_loop().time() + seconds
    while True:
        pub.publish(app.topics.telemetry("gas-1"), {"ts": now_ms(), "metrics": {**CLEAN, **over}})
        if asyncio.get_running_loop().time() >= end:
            return
        await asyncio.sleep(0.2)


async def test_permit_refused_before_ventilation_granted_after_revoked_on_h2s(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    with http_recorder() as sms:
        settings = make_settings(
            tmp_path,
            mosquitto.url,
            permits={"ventilation_min_s": 1.5, "gas_stable_s": 1.0, "max_reading_age_s": 5},
            notifications={"channels": [{"type": "sms_http", "name": "gw", "url": f"{sms.url}/send"}]},
        )
        Path(settings.twin.path).write_text(TWIN, encoding="utf-8")
        ask = PermitRequest(space_id="tank-1", entrants=["王师傅"], supervisor="陈工", reason="清掏")
        pub = Publisher(mosquitto.host, mosquitto.port)
        try:
            async with running(settings) as app, aiomqtt.Client(mosquitto.host, mosquitto.port) as speaker:
                permits = app.ops.permits
                assert permits is not None
                await speaker.subscribe(app.topics.command("spk-1"), qos=1)
                await air(pub, app, 1.5)
                with pytest.raises(PermitRefused) as refused:
                    permits.request(ask, "陈工")
                assert any("ventilate first" in r for r in refused.value.permit.refusals)

                state = {"ts": now_ms(), "state": {"on": True, "speed": 3, "rpm": 1400}}
                pub.publish(app.topics.state("fan-1"), state, retain=True)
                await eventually(lambda: app.ops.actuators.manager.live("fan-1").active_since is not None)
                await air(pub, app, 2.0)
                permit = permits.request(ask, "陈工")
                assert permit.status is PermitStatus.GRANTED
                permits.record_entry(permit.id, "王师傅", "in", "陈工")

                pub.publish(
                    app.topics.telemetry("gas-1"), {"ts": now_ms(), "metrics": {**CLEAN, "h2s": 15.0}}
                )
                async with asyncio.timeout(10):  # other rules may speak too: wait for the permit's order
                    async for msg in speaker.messages:
                        played = Command.model_validate_json(msg.payload)
                        if played.issued_by == f"permit:{permit.id}":
                            break
                assert played.action == "play"
                assert "1号化粪池硫化氢超限，15 ppm" in played.params["text"]
                revoked = permits.get(permit.id)
                assert revoked.status is PermitStatus.REVOKED and revoked.inside == ["王师傅"]
                await eventually(
                    lambda: any("硫化氢超限".encode() in r.body for r in sms.requests), what="stop-work SMS"
                )
                [stop] = [n for n in app.ops.response.recent(50) if n.alarm_id == f"permit:{permit.id}"]
                ours = f"permit:{permit.id}"
                await eventually(
                    lambda: any(n.delivered for n in app.ops.response.recent(50) if n.alarm_id == ours),
                    what="stop-work notification recorded as delivered",
                )
                assert stop.recipients[0].phone == "13900000009"
        finally:
            pub.close()
