"""docker-compose.yml, checked without Docker: the service graph, secrets, volumes, and every SafeTwin
service's environment loaded as real settings; deploy/mosquitto.conf run by a real Mosquitto."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from core.errors import SettingsError
from safetwin.cli import build_parser, main
from safetwin.mqttacl import device_password
from safetwin.roles import ROLES
from safetwin.runtime import SafeTwin
from safetwin.settings import SafeTwinSettings, load
from tests.fixtures.mosquitto import MOSQUITTO, _require_mosquitto, free_port, wait_port
from tests.fixtures.process import terminate

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = YAML(typ="safe", pure=True).load(
    (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SAFETWIN = sorted(name for name, s in SERVICES.items() if s.get("build") == ".")


def depends(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as target -> condition (the short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {target: spec.get("condition", "service_started") for target, spec in deps.items()}


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable", False)


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secrets scripts/make-secrets.sh makes, in a copy of the tree (deploy/secrets/)."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(ROOT / "scripts", root / "scripts")
    shutil.copytree(ROOT / "deploy", root / "deploy", ignore=shutil.ignore_patterns("secrets"))
    subprocess.run(["bash", str(root / "scripts" / "make-secrets.sh")], check=True, capture_output=True)
    return root / "deploy" / "secrets"


def test_the_services_the_deployment_needs_are_there() -> None:
    assert {"mosquitto", "mqtt-auth", "influxdb", "postgres", "worker-0", "worker-1", "api", "vision"} <= set(
        SERVICES
    )
    assert SERVICES["simulator"]["profiles"] == ["simulator"]
    assert SERVICES["influxdb"]["image"].startswith("influxdb:2.7")
    init = SERVICES["influxdb"]["environment"]
    assert {
        "DOCKER_INFLUXDB_INIT_ORG",
        "DOCKER_INFLUXDB_INIT_BUCKET",
        "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE",
    } <= set(init)
    assert (
        init["DOCKER_INFLUXDB_INIT_BUCKET"]
        == SERVICES["worker-0"]["environment"]["SAFETWIN_STORE__INFLUX__DATABASE"]
    )


def test_every_dependency_exists_is_checked_and_there_is_no_cycle() -> None:
    for name, service in SERVICES.items():
        for target, condition in depends(service).items():
            assert target in SERVICES, f"{name} depends on a service that does not exist: {target}"
            if condition == "service_healthy":
                assert has_healthcheck(SERVICES[target]), (
                    f"{name} waits for {target}, which has no health check"
                )
            elif condition == "service_completed_successfully":
                assert SERVICES[target].get("restart") == "no", f"{target} is one-shot and must not restart"
            else:
                pytest.fail(f"{name} starts after {target} without waiting for it to be ready ({condition})")
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        assert state.get(name) != "open", f"dependency cycle: {' -> '.join([*path, name])}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for target in depends(SERVICES[name]):
            visit(target, [*path, name])
        state[name] = "done"

    for name in SERVICES:
        visit(name, [])


def test_long_running_services_have_health_checks_and_volumes_are_declared() -> None:
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        if service.get("restart") != "no" and "simulator" not in service.get("profiles", []):
            assert has_healthcheck(service), f"{name} has no health check"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses the undeclared volume {source}"
            else:
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_ports_are_published_once_and_where_documented() -> None:
    published = [
        (name, str(port).split(":")[0]) for name, s in SERVICES.items() for port in s.get("ports", [])
    ]
    hosts = [p for _, p in published]
    assert len(hosts) == len(set(hosts)), published
    assert ("api", "8050") in published and ("mosquitto", "1883") in published
    assert not SERVICES["worker-0"].get("ports"), "workers serve health and metrics inside the network only"


def test_every_secret_is_declared_and_made_by_the_script(secrets: Path) -> None:
    declared = COMPOSE["secrets"]
    for name, service in SERVICES.items():
        for ref in service.get("secrets", []):
            source = ref if isinstance(ref, str) else ref["source"]
            assert source in declared, f"{name} uses the undeclared secret {source}"
    for name, spec in declared.items():
        assert spec["file"].startswith("./deploy/secrets/"), name
        assert (secrets / Path(spec["file"]).name).read_text(), f"make-secrets.sh does not make {name}"
    assert (secrets / "database_url").read_text().startswith("postgresql+psycopg://safetwin:")


def service_settings(
    name: str, secrets: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> SafeTwinSettings:
    """Load settings exactly as the service would: its environment, its secret files by target name."""
    service = SERVICES[name]
    target.mkdir(parents=True, exist_ok=True)
    for ref in service.get("secrets", []):
        source, dest = (
            (ref, ref) if isinstance(ref, str) else (ref["source"], ref.get("target", ref["source"]))
        )
        (target / dest).write_text((secrets / Path(COMPOSE["secrets"][source]["file"]).name).read_text())
    for key in [k for k in os.environ if k.startswith("SAFETWIN_")]:
        monkeypatch.delenv(key)
    for key, value in service.get("environment", {}).items():
        monkeypatch.setenv(key, str(value))
    return load(secrets_dir=target)


@pytest.mark.parametrize("name", SAFETWIN)
def test_safetwin_services_environment_is_real_settings(
    name: str, secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(name, secrets, tmp_path / "run-secrets", monkeypatch)
    command = SERVICES[name]["command"]
    assert command[0] == "safetwin"
    args = build_parser().parse_args(command[1:])  # the command line is one the CLI takes
    if args.command == "run":
        assert args.role in ROLES and args.role != "all"
    if settings.environment == "production":
        assert settings.mqtt.username and settings.mqtt.password, f"{name} must log in to the broker"
        if getattr(args, "role", None) in ("worker", "api"):
            assert settings.database.url.startswith("postgresql+psycopg://"), f"{name} shares PostgreSQL"


def test_production_services_would_refuse_to_start_without_their_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in SERVICES["worker-0"]["environment"].items():
        monkeypatch.setenv(key, str(value))
    with pytest.raises(SettingsError):
        load()


def test_mqtt_auth_service_writes_files_for_the_compose_users(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_settings("mqtt-auth", secrets, tmp_path / "s", monkeypatch)
    command = list(SERVICES["mqtt-auth"]["command"][1:])
    command[command.index("/mosquitto/auth")] = str(tmp_path / "auth")
    command[command.index("/run/secrets")] = str(tmp_path / "s")
    if os.geteuid() != 0:
        del command[command.index("--chown") : command.index("--chown") + 2]
    assert main(command) == 0
    users = {line.split(":", 1)[0] for line in (tmp_path / "auth" / "passwd").read_text().splitlines()}
    named = {SERVICES[s]["environment"].get("SAFETWIN_MQTT__USERNAME") for s in SAFETWIN} - {None}
    assert named <= users and "safetwin-health" in users


@contextlib.contextmanager
def deploy_broker(secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A real Mosquitto on deploy/mosquitto.conf (paths moved here) with the mqtt-auth service's files."""
    _require_mosquitto()
    service_settings("mqtt-auth", secrets, tmp_path / "s", monkeypatch)
    assert main(["--secrets-dir", str(tmp_path / "s"), "mqtt-auth", "--out", str(tmp_path / "auth")]) == 0
    port = free_port()
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    conf = conf.replace("/mosquitto/auth", str(tmp_path / "auth")).replace("/mosquitto/data/", f"{tmp_path}/")
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1").replace(
        "log_dest stdout", f"log_dest file {tmp_path}/mosquitto.log"
    )
    (tmp_path / "mosquitto.conf").write_text(("user root\n" if os.geteuid() == 0 else "") + conf)
    proc = subprocess.Popen([MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")], stderr=subprocess.PIPE)
    try:
        wait_port("127.0.0.1", port)
        yield port
    finally:
        terminate(proc, timeout=10)


@pytest.mark.mosquitto
def test_deploy_mosquitto_conf_runs_with_generated_auth(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker config of the deployment: its health check's login works, a wrong one does not."""
    with deploy_broker(secrets, tmp_path, monkeypatch) as port:
        health = (secrets / "mqtt_health_password").read_text()
        probe = [
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-t",
            "$SYS/broker/uptime",
            "-C",
            "1",
            "-W",
            "5",
        ]
        ok = subprocess.run(
            [*probe, "-u", "safetwin-health", "-P", health], check=False, capture_output=True, timeout=20
        )
        assert ok.returncode == 0 and b"seconds" in ok.stdout, ok.stderr
        refused = subprocess.run(
            [*probe, "-u", "safetwin-health", "-P", "wrong"], check=False, capture_output=True, timeout=20
        )
        assert refused.returncode != 0


def co_is(app: SafeTwin, device: str, value: float) -> bool:
    """The device's live CO value is `value`."""
    co = app.live.view(device).values.get("co")
    return co is not None and co.value == value


def local_stores(settings: SafeTwinSettings, tmp_path: Path, port: int) -> SafeTwinSettings:
    """The service's settings with the broker moved here and files for the stores Compose would give it."""
    mqtt = settings.mqtt.model_dump() | {"url": f"mqtt://127.0.0.1:{port}", "reconnect_max_s": 1.0}
    return load(
        environment="development",
        mqtt=mqtt,
        store={"backend": "duckdb", "duckdb_path": tmp_path / "h.duckdb", "spool_dir": tmp_path / "spool"},
        database={"url": f"sqlite:///{tmp_path / 'ops.db'}"},
        state={"sqlite_path": tmp_path / "state.sqlite"},
        api={"port": 0},
    )


@pytest.mark.mosquitto
@pytest.mark.slow
async def test_worker_and_api_users_of_the_deployment_have_the_rights_they_use(
    secrets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the compose users and the generated ACL, the worker ingests and dead-letters, the api role sees
    the same readings, and neither is cut off for publishing where it may not."""
    from tests.deploy.test_roles_metrics import serving
    from tests.fixtures.mosquitto import MosquittoBroker
    from tests.helpers import eventually
    from tests.mqtt_security.test_broker_acl import Client

    with deploy_broker(secrets, tmp_path, monkeypatch) as port:
        worker = local_stores(
            service_settings("worker-0", secrets, tmp_path / "w", monkeypatch), tmp_path / "w", port
        )
        api = local_stores(
            service_settings("api", secrets, tmp_path / "a", monkeypatch), tmp_path / "a", port
        )
        worker.ingest.partitions, worker.ingest.partition = 1, 0
        secret = (secrets / "mqtt_device_secret").read_text()
        broker = MosquittoBroker(workdir=tmp_path, port=port)
        async with serving(worker, "worker") as w, serving(api, "api") as a:
            dev = "gl-lj-st01-mg-01"
            device = Client(broker, dev, device_password(secret, dev))
            watcher = Client(broker, "safetwin-api", (secrets / "mqtt_api_password").read_text())
            watcher.subscribe(w.topics.deadletter("+"))
            try:
                device.publish(w.topics.telemetry(dev), b'{"metrics": {"co": 3.0}}')
                device.publish(w.topics.telemetry(dev), b'{"metrics": {"co": "high"}}')
                device.publish(w.topics.telemetry(dev), b'{"metrics": {"co": 4.0}}')
                await eventually(lambda: w.dead_letters.recent(1) != [], what="a dead letter in the worker")
                for app in (w, a):
                    await eventually(partial(co_is, app, dev, 4.0), what=f"the reading in the {app} process")
                # both the worker and the api role's own subscription announce it: both may publish there
                assert [watcher.next()[0] for _ in range(2)] == [w.topics.deadletter("invalid")] * 2
            finally:
                device.close()
                watcher.close()
            # a publish the ACL refuses would have cost a reconnect (Mosquitto 2.0.11 drops the client)
            assert w.subscriber.status.connects == 1 and a.subscriber.status.connects == 1


def test_prometheus_scrapes_every_safetwin_process() -> None:
    config = YAML(typ="safe", pure=True).load(
        (ROOT / "deploy" / "prometheus.yml").read_text(encoding="utf-8")
    )
    targets = {
        t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]
    }
    running = {
        name for name in SAFETWIN if "command" in SERVICES[name] and "run" in SERVICES[name]["command"]
    }
    assert {t.split(":")[0] for t in targets} == running
    assert all(
        t.endswith(":" + SERVICES[t.split(":")[0]]["environment"]["SAFETWIN_API__PORT"]) for t in targets
    )
