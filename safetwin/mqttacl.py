"""MQTT security from the twin: per-device passwords and a Mosquitto password file and ACL.

Device passwords are derived, never stored: ``base64url(HMAC-SHA256(mqtt_auth.device_secret, id))``.
Knowing a device id (printed on its label, visible in topics) gives nothing without the secret, and
the same secret always gives the same password, so the files can be regenerated from the twin at
every start.  SafeTwin's own clients have one user per role with the rights that role needs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from core.contract import Topics
from core.errors import SettingsError
from core.settings import DEV_MQTT_PREFIX, MqttAuthSettings
from twin.kinds import ACTUATOR_KINDS, DeviceKind
from twin.twin import Twin

WORKER_USER = "safetwin"  # ingest, rules, alarms, actuators (and everything in `--role all`)
API_USER = "safetwin-api"  # API and dashboard: reads live data, publishes only dead letters
VISION_USER = "safetwin-vision"  # video analytics: publishes detections of the cameras it analyses
SIMULATOR_USER = "safetwin-sim"  # the device simulators: may speak for any device (not for production)
HEALTH_USER = "safetwin-health"  # the broker's own health check: reads $SYS/broker/uptime only
SERVICE_USERS = {
    WORKER_USER: "worker_password",
    API_USER: "api_password",
    VISION_USER: "vision_password",
    SIMULATOR_USER: "simulator_password",
    HEALTH_USER: "health_password",
}
PBKDF2_ITERATIONS = 101  # Mosquitto's default; derived passwords carry 256 random bits, not a word list
_DEVICE_CONTEXT = b"safetwin-mqtt-device\x00"


@dataclass
class Grant:
    """One MQTT user and the topics it may read and write."""

    user: str
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)


def device_password(secret: str, device_id: str) -> str:
    """The MQTT password of one device (or gateway): an HMAC of its id under the device secret."""
    mac = hmac.new(secret.encode(), _DEVICE_CONTEXT + device_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def mosquitto_hash(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A password hash as `mosquitto_passwd` writes it: PBKDF2-SHA512, ``$7$iterations$salt$hash``."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _secret(value: SecretStr | None, name: str, development: bool) -> str:
    if value is not None:
        return value.get_secret_value()
    if not development:
        raise SettingsError(
            f"mqtt_auth.{name} is not set: run scripts/make-secrets.sh or set a secret file mqtt_auth__{name}"
        )
    return DEV_MQTT_PREFIX + name.removesuffix("_password").replace("_", "-")


def service_passwords(auth: MqttAuthSettings, development: bool) -> dict[str, str]:
    """Each service user's password: from the settings, or its development default."""
    return {user: _secret(getattr(auth, name), name, development) for user, name in SERVICE_USERS.items()}


def device_secret(auth: MqttAuthSettings, development: bool) -> str:
    """The HMAC key of device passwords: from the settings, or the development default."""
    return _secret(auth.device_secret, "device_secret", development)


def device_grants(twin: Twin, topics: Topics) -> list[Grant]:
    """Each device publishes only as itself and reads only its own commands; a gateway, its batch."""
    grants: list[Grant] = []
    for dev_id, place in twin.devices.items():
        g = Grant(dev_id, write=[topics.telemetry(dev_id), topics.availability(dev_id)])
        if place.kind in ACTUATOR_KINDS:
            g.read.append(topics.command(dev_id))
            g.write += [topics.ack(dev_id), topics.state(dev_id)]
        if place.kind == DeviceKind.CAMERA:
            g.write.append(topics.detection(dev_id))
        if place.kind == DeviceKind.ACCESS_READER:
            g.write.append(topics.access(dev_id))
        grants.append(g)
    for gw_id in twin.gateways:
        behind = twin.behind_gateway.get(gw_id, [])
        write = [topics.gateway_batch(gw_id), topics.availability(gw_id)]
        grants.append(Grant(gw_id, write=write + [topics.availability(d) for d in behind]))
    return grants


def service_grants(twin: Twin, topics: Topics) -> list[Grant]:
    """SafeTwin's own users: worker, API, vision, simulator and the broker health check."""
    root = topics.root
    published = ["command", "alarm", "workorder", "deadletter", "detection"]
    device_side = ["telemetry", "availability", "detection", "access", "ack", "state"]
    cameras = [d for d, p in twin.devices.items() if p.kind == DeviceKind.CAMERA and p.spec.camera]
    return [
        Grant(
            WORKER_USER,
            read=[f"{root}/#", f"$share/+/{root}/#"],
            write=[f"{root}/{t}/+" for t in published],
        ),
        # the api role's own subscription re-announces the dead letters it sees, as ingest does
        Grant(API_USER, read=[f"{root}/#"], write=[f"{root}/deadletter/+"]),
        Grant(VISION_USER, read=[f"{root}/access/+"], write=[topics.detection(c) for c in cameras]),
        Grant(
            SIMULATOR_USER,
            read=[f"{root}/command/+"],
            write=[f"{root}/{t}/+" for t in device_side] + [f"{root}/gateway/+/batch"],
        ),
        Grant(HEALTH_USER, read=["$SYS/broker/uptime"]),
    ]


def _check_user(name: str) -> None:
    if ":" in name or not name or any(c.isspace() for c in name):
        raise SettingsError(f"MQTT user name {name!r} cannot go in a Mosquitto password file (':' or space)")


def render_acl(grants: Iterable[Grant]) -> str:
    """A Mosquitto `acl_file`: one `user` block per grant; anything not granted is refused."""
    lines = ["# Generated by `safetwin mqtt-auth` from the twin; do not edit, regenerate.", ""]
    for g in grants:
        _check_user(g.user)
        lines.append(f"user {g.user}")
        lines += [f"topic read {t}" for t in g.read]
        lines += [f"topic write {t}" for t in g.write]
        lines.append("")
    return "\n".join(lines)


def render_passwords(credentials: dict[str, str]) -> str:
    """A Mosquitto `password_file` (one ``user:$7$...`` line per user)."""
    for user in credentials:
        _check_user(user)
    return "".join(f"{user}:{mosquitto_hash(pw)}\n" for user, pw in credentials.items())


def credentials(twin: Twin, auth: MqttAuthSettings, development: bool) -> dict[str, str]:
    """Every user's clear password: the services' and each device's and gateway's."""
    creds = service_passwords(auth, development)
    secret = device_secret(auth, development)
    for dev_id in [*twin.devices, *twin.gateways]:
        if dev_id in creds:
            raise SettingsError(f"twin id {dev_id!r} is the name of a SafeTwin MQTT user; rename the device")
        creds[dev_id] = device_password(secret, dev_id)
    return creds


def write_files(
    out_dir: Path, passwords: str, acl: str, owner: tuple[int, int] | None = None
) -> tuple[Path, Path]:
    """Write `passwd` and `acl` into out_dir atomically, readable by their owner only."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "passwd", out_dir / "acl")
    for path, text in zip(paths, (passwords, acl), strict=True):
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if owner is not None:
            os.chown(tmp, *owner)
        os.replace(tmp, path)
    return paths


def generate(
    twin: Twin,
    topics: Topics,
    auth: MqttAuthSettings,
    development: bool,
    out_dir: Path,
    owner: tuple[int, int] | None = None,
) -> tuple[Path, Path]:
    """Write the broker's password file and ACL for this twin; returns their paths."""
    grants = service_grants(twin, topics) + device_grants(twin, topics)
    creds = credentials(twin, auth, development)
    return write_files(out_dir, render_passwords(creds), render_acl(grants), owner)
