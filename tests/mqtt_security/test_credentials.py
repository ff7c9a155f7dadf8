"""Device passwords, Mosquitto hashes and the ACL drawn from the twin (pure logic)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.contract import Topics
from core.errors import SettingsError
from core.settings import MqttAuthSettings
from safetwin import mqttacl
from safetwin.cli import main
from twin.loader import parse_twin
from twin.twin import Twin

TWIN = """
version: 1
name: acl
sites:
  - id: site-a
    name: A
    location: {lat: 22.70, lon: 114.05}
    gateways:
      - {id: gw-1, name: LoRa gateway}
    spaces:
      - id: well-1
        name: Well
        kind: sewer_well
        confined: true
        location: {lat: 22.702, lon: 114.052}
        devices:
          - {id: co-1, kind: co_sensor}
          - {id: co-2, kind: co_sensor}
          - {id: gas-9, kind: multi_gas, gateway: gw-1}
          - {id: fan-1, kind: fan}
          - {id: fan-2, kind: fan}
          - {id: cam-1, kind: camera}
          - {id: gate-1, kind: access_reader}
"""


def twin() -> Twin:
    return Twin(parse_twin(TWIN, "acl.yaml"))


def test_device_password_depends_on_secret_and_id_only() -> None:
    a = mqttacl.device_password("secret-1", "co-1")
    assert a == mqttacl.device_password("secret-1", "co-1")
    assert a != mqttacl.device_password("secret-1", "co-2")
    assert a != mqttacl.device_password("secret-2", "co-1")
    assert "co-1" not in a and len(a) == 43  # 256 bits, base64url without padding


def test_mosquitto_hash_is_pbkdf2_sha512_in_mosquitto_format() -> None:
    line = mqttacl.mosquitto_hash("pw", salt=b"0123456789ab")
    kind, iterations, salt, digest = line.split("$")[1:]
    assert (kind, int(iterations)) == ("7", mqttacl.PBKDF2_ITERATIONS)
    expected = hashlib.pbkdf2_hmac("sha512", b"pw", b"0123456789ab", mqttacl.PBKDF2_ITERATIONS)
    assert base64.b64decode(salt) == b"0123456789ab" and base64.b64decode(digest) == expected
    assert mqttacl.mosquitto_hash("pw") != mqttacl.mosquitto_hash("pw")  # salted


def test_grants_follow_the_twin() -> None:
    t = Topics("p")
    grants = {g.user: g for g in mqttacl.device_grants(twin(), t)}
    assert grants["co-1"].write == ["p/v1/telemetry/co-1", "p/v1/availability/co-1"]
    assert grants["co-1"].read == []
    assert grants["fan-1"].read == ["p/v1/command/fan-1"]
    assert {"p/v1/ack/fan-1", "p/v1/state/fan-1"} <= set(grants["fan-1"].write)
    assert "p/v1/detection/cam-1" in grants["cam-1"].write
    assert "p/v1/access/gate-1" in grants["gate-1"].write
    assert set(grants["gw-1"].write) == {
        "p/v1/gateway/gw-1/batch",
        "p/v1/availability/gw-1",
        "p/v1/availability/gas-9",
    }
    for g in grants.values():  # no device gets a wildcard
        assert not any("+" in topic or "#" in topic for topic in g.read + g.write)


def test_development_defaults_and_production_needs_secrets() -> None:
    dev = mqttacl.service_passwords(MqttAuthSettings(), development=True)
    assert set(dev) == set(mqttacl.SERVICE_USERS) and len(set(dev.values())) == len(dev)
    with pytest.raises(SettingsError, match=r"mqtt_auth\.worker_password is not set"):
        mqttacl.service_passwords(MqttAuthSettings(), development=False)
    with pytest.raises(SettingsError, match="device_secret"):
        mqttacl.device_secret(MqttAuthSettings(), development=False)
    given = MqttAuthSettings(device_secret=SecretStr("k"))
    assert mqttacl.device_secret(given, development=False) == "k"


def test_a_device_named_like_a_service_user_is_refused() -> None:
    bad = TWIN.replace("{id: co-2, kind: co_sensor}", "{id: safetwin-api, kind: co_sensor}")
    with pytest.raises(SettingsError, match="safetwin-api"):
        mqttacl.credentials(Twin(parse_twin(bad, "bad.yaml")), MqttAuthSettings(), development=True)


def test_user_names_mosquitto_cannot_hold_are_refused() -> None:
    with pytest.raises(SettingsError, match="password file"):
        mqttacl.render_passwords({"a:b": "pw"})


def test_files_are_written_private(tmp_path: Path) -> None:
    passwd, acl = mqttacl.generate(twin(), Topics("p"), MqttAuthSettings(), True, tmp_path / "auth")
    assert passwd.stat().st_mode & 0o077 == 0 and acl.stat().st_mode & 0o077 == 0
    users = {line.split(":", 1)[0] for line in passwd.read_text().splitlines()}
    assert {"co-1", "gw-1", "safetwin", "safetwin-sim", "safetwin-health"} <= users
    assert "user fan-2\ntopic read p/v1/command/fan-2\n" in acl.read_text()


def test_cli_prints_a_device_password_from_the_configured_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mqtt_auth__device_secret").write_text("from-a-file")
    assert main(["--secrets-dir", str(tmp_path), "mqtt-auth", "--device-password", "co-1"]) == 0
    assert capsys.readouterr().out.strip() == mqttacl.device_password("from-a-file", "co-1")


def test_cli_refuses_to_write_production_files_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "SAFETWIN_ENVIRONMENT": "production",
        "SAFETWIN_MQTT__URL": "mqtt://broker:1883",
        "SAFETWIN_MQTT__USERNAME": "safetwin",
        "SAFETWIN_MQTT__PASSWORD": "a-real-one",
        "SAFETWIN_API__SECRET_KEY": "a-real-key",
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["mqtt-auth", "--out", str(tmp_path / "auth")]) == 2
    assert "mqtt_auth." in capsys.readouterr().err and not (tmp_path / "auth").exists()
