"""Settings: environment nesting, secret files, YAML files, refusals with a fix in the message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import SettingsError
from core.settings import load_settings


def test_defaults_are_embedded_development() -> None:
    s = load_settings()
    assert s.environment == "development" and s.mqtt.is_embedded and s.store.backend == "duckdb"


def test_environment_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFETWIN_STORE__BACKEND", "influxdb")
    monkeypatch.setenv("SAFETWIN_STORE__INFLUX__URL", "http://influx:8086")
    monkeypatch.setenv("SAFETWIN_MQTT__URL", "mqtts://broker.example:8883")
    s = load_settings()
    assert s.store.backend == "influxdb" and s.store.influx.url == "http://influx:8086"
    assert s.mqtt.endpoint() == ("broker.example", 8883, True)


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "api__secret_key").write_text("s3cret-from-file")
    (tmp_path / "store__influx__token").write_text("tok")
    (tmp_path / "mqtt__password").write_text("mqtt-pw")
    s = load_settings(
        secrets_dir=tmp_path, environment="production", mqtt={"url": "mqtt://b:1883", "username": "safetwin"}
    )
    assert s.api.secret_key.get_secret_value() == "s3cret-from-file"
    assert s.store.influx.token is not None and s.store.influx.token.get_secret_value() == "tok"


def test_production_refuses_default_secret() -> None:
    with pytest.raises(SettingsError, match=r"api\.secret_key is the development default"):
        load_settings(environment="production", mqtt={"url": "mqtt://b:1883"})


def test_production_refuses_anonymous_or_default_mqtt_secrets() -> None:
    base: dict[str, Any] = {"environment": "production", "api": {"secret_key": "k"}}
    with pytest.raises(SettingsError, match=r"mqtt\.username and mqtt\.password must be set"):
        load_settings(**base, mqtt={"url": "mqtt://b:1883"})
    with pytest.raises(SettingsError, match=r"mqtt\.password is a development default"):
        load_settings(
            **base, mqtt={"url": "mqtt://b", "username": "u", "password": "development-only-mqtt-worker"}
        )
    with pytest.raises(SettingsError, match=r"mqtt_auth\.device_secret is a development default"):
        load_settings(
            **base,
            mqtt={"url": "mqtt://b", "username": "u", "password": "p"},
            mqtt_auth={"device_secret": "development-only-mqtt-device-secret"},
        )
    ok = load_settings(**base, mqtt={"url": "mqtt://b", "username": "u", "password": "p"})
    assert ok.mqtt.password is not None and ok.mqtt_auth.device_secret is None


def test_yaml_file_and_wrong_line_named(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text("store:\n  backend: influxdb\napi:\n  port: 9000\n")
    s = load_settings(good)
    assert (s.store.backend, s.api.port) == ("influxdb", 9000)
    bad = tmp_path / "bad.yaml"
    bad.write_text("store:\n  backnd: influxdb\nmqtt:\n  url: http://nope\n")
    with pytest.raises(SettingsError) as err:
        load_settings(bad)
    text = str(err.value)
    assert "store.backnd" in text and "SAFETWIN_STORE__BACKND" in text
    assert "mqtt.url" in text and "mqtt://host:port" in text


def test_missing_files_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(SettingsError, match="secrets directory"):
        load_settings(secrets_dir=tmp_path / "nothing")
