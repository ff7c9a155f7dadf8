"""The one settings object.  Nothing else in SafeTwin reads the environment.

Sources, strongest first: keyword arguments, ``SAFETWIN_*`` environment variables (``__`` nests,
e.g. ``SAFETWIN_STORE__BACKEND=influxdb``), secret files in ``SAFETWIN_SECRETS_DIR`` (one file per
setting, e.g. ``store__influx_token``), an optional YAML file, then the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.errors import SettingsError

DEV_SECRET = "development-only-secret"
# Passwords of the demo accounts created in development mode; refused for real accounts in production.
DEV_PASSWORDS = {
    "admin": "admin-dev-password",
    "operator": "operator-dev-password",
    "manager": "manager-dev-password",
    "viewer": "viewer-dev-password",
}
DEV_MQTT_PREFIX = "development-only-mqtt-"  # development MQTT secrets start with it; refused in production


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    url: str = Field(
        "embedded",
        description="'embedded' for the in-process broker, or mqtt://host:port / mqtts://host:port",
    )
    embedded_host: str = Field("127.0.0.1", description="Interface the embedded broker listens on")
    embedded_port: int = Field(1884, ge=0, le=65535, description="Port of the embedded broker (0: any free)")
    username: str | None = Field(None, description="Broker user name")
    password: SecretStr | None = Field(None, description="Broker password")
    ca_file: Path | None = Field(None, description="CA bundle for mqtts://; the system store if unset")
    client_id: str = Field("safetwin-ingest", description="Client id; fixed so the broker keeps our session")
    topic_prefix: str = Field("safetwin", description="First level of every contract topic")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive, seconds")
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay, seconds")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay, seconds")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value == "embedded":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"broker URL {value!r} is not understood: use 'embedded', mqtt://host:port or mqtts://host:port"
            )
        return value

    @property
    def is_embedded(self) -> bool:
        return self.url == "embedded"

    def endpoint(self) -> tuple[str, int, bool]:
        """(host, port, tls) of the broker to connect to."""
        if self.is_embedded:
            return self.embedded_host, self.embedded_port, False
        parts = urlsplit(self.url)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls


class InfluxSettings(_Section):
    url: str = Field("http://127.0.0.1:8086", description="InfluxDB base URL (1.x, 2.7+ or 3 Core)")
    database: str = Field("safetwin", description="1.x database, 2.x bucket (virtual DBRP), 3.x database")
    token: SecretStr | None = Field(None, description="2.x / 3.x API token (sent as 'Authorization: Token')")
    username: str | None = Field(None, description="1.x user name")
    password: SecretStr | None = Field(None, description="1.x password")
    create_database: bool = Field(
        True, description="Issue CREATE DATABASE on start (1.x; ignored if refused)"
    )
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per request, seconds")


class StoreSettings(_Section):
    backend: Literal["duckdb", "influxdb"] = Field("duckdb", description="History backend")
    duckdb_path: Path = Field(Path("var/history.duckdb"), description="DuckDB file of the embedded store")
    duckdb_memory_limit_mb: int = Field(
        256,
        ge=64,
        description="Most memory DuckDB's buffer cache takes, MB: it keeps written history in memory up "
        "to this bound (about 14 bytes a reading), then evicts to the file (its own default is 80 % of "
        "the machine's, which it fills over hours while the twin needs it)",
    )
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    spool_dir: Path = Field(Path("var/spool"), description="Where points wait while the store is down")
    spool_max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Spool bound; an alarm is raised at it")
    flush_interval_s: float = Field(
        0.1,
        gt=0,
        description="Longest time a point waits before a write, seconds; ingest acknowledges the broker "
        "after it, so it also bounds how long messages stay in flight",
    )
    batch_max_points: int = Field(50_000, gt=0, description="Largest write request, points")
    retry_interval_s: float = Field(2.0, gt=0, description="How often a down store is tried again, seconds")


class StateSettings(_Section):
    sqlite_path: Path = Field(Path("var/state.sqlite"), description="SQLite file for operational state")
    snapshot_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often live device state (last values, last seen) is saved for a restart, seconds; "
        "each save walks every device, so a large twin wants it rare",
    )


class DatabaseSettings(_Section):
    url: str = Field(
        "sqlite:///var/safetwin.db",
        description="SQLAlchemy URL of the operational store: sqlite:///file or postgresql+psycopg://user@host/db",
    )
    echo: bool = Field(False, description="Log every SQL statement")

    @field_validator("url")
    @classmethod
    def _check_db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                f"database URL {value!r} is not supported: use sqlite:///path or postgresql+psycopg://user@host/db"
            )
        return value.replace("postgresql://", "postgresql+psycopg://", 1)


class TwinSettings(_Section):
    path: Path = Field(Path("data/demo-twin.yaml"), description="Twin YAML file")
    offline_after_s: float = Field(120.0, gt=0, description="No message for this long: device offline")


class IngestSettings(_Section):
    max_payload_bytes: int = Field(256 * 1024, gt=0, description="Larger payloads are dead-lettered")
    clock_skew_warn_s: float = Field(300.0, gt=0, description="Device clock further off than this is flagged")
    batch_max_messages: int = Field(5000, gt=0, description="Most MQTT messages handled as one batch")
    dead_letter_keep: int = Field(500, gt=0, description="Recent dead letters kept for the API")
    partitions: int = Field(
        1,
        ge=1,
        le=1024,
        description="Ingest + rules workers sharing the load, each keeping the sites of its partition",
    )
    partition: int = Field(0, ge=0, description="This worker's partition, 0 .. partitions - 1")
    shared_group: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        pattern=r"^[^/#+\s]+$",
        description="Subscribe as $share/<group>/...; only with a broker that routes a topic always to the "
        "same member (EMQX hash_topic), see docs/scaling.md",
    )
    ack: Literal["stored", "processed"] = Field(
        "stored",
        description="When a QoS 1 message is acknowledged: once history holds its readings (written or "
        "spooled), or once rules have seen it. 'stored' needs the broker to allow many messages in flight "
        "(Mosquitto: max_inflight_messages 0)",
    )

    @model_validator(mode="after")
    def _check_partition(self) -> IngestSettings:
        if self.partition >= self.partitions:
            raise ValueError(
                f"ingest.partition {self.partition} must be below ingest.partitions {self.partitions}"
            )
        if self.shared_group and self.partitions > 1:
            raise ValueError(
                "set either ingest.shared_group (the broker spreads topics) or ingest.partitions (each "
                "worker keeps its sites), not both"
            )
        return self


class ApiSettings(_Section):
    host: str = Field("127.0.0.1", description="Interface of the API and dashboard")
    port: int = Field(8050, ge=0, le=65535, description="Port of the API and dashboard")
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET), description="Signs sessions; must be set in production"
    )


class MqttAuthSettings(_Section):
    """Secrets `safetwin mqtt-auth` writes the broker's password file from (development defaults if unset)."""

    device_secret: SecretStr | None = Field(
        None, description="HMAC key every device's MQTT password is derived from (keep it off the devices)"
    )
    worker_password: SecretStr | None = Field(None, description="MQTT password of the worker user 'safetwin'")
    api_password: SecretStr | None = Field(None, description="MQTT password of the API user 'safetwin-api'")
    vision_password: SecretStr | None = Field(
        None, description="MQTT password of the video-analytics user 'safetwin-vision'"
    )
    simulator_password: SecretStr | None = Field(
        None, description="MQTT password of the simulator user 'safetwin-sim'"
    )
    health_password: SecretStr | None = Field(
        None, description="MQTT password of 'safetwin-health', the broker's health check"
    )

    def secrets(self) -> dict[str, SecretStr | None]:
        """Each secret by its field name."""
        return {
            "device_secret": self.device_secret,
            "worker_password": self.worker_password,
            "api_password": self.api_password,
            "vision_password": self.vision_password,
            "simulator_password": self.simulator_password,
            "health_password": self.health_password,
        }


def is_dev_secret(value: SecretStr | None) -> bool:
    """True for a development default (refused in production)."""
    return value is not None and value.get_secret_value().startswith((DEV_MQTT_PREFIX, DEV_SECRET))


class AuthSettings(_Section):
    token_ttl_s: float = Field(8 * 3600.0, gt=0, le=30 * 86400, description="Login token lifetime, seconds")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins per user name and address before a lock"
    )
    login_window_s: float = Field(300.0, gt=0, description="Window of failed logins, and the lock, seconds")
    bootstrap_admin_user: str = Field("admin", min_length=1, max_length=64, description="First administrator")
    bootstrap_admin_password: SecretStr | None = Field(
        None,
        description="Creates the first administrator when there is no user (env or secret file; "
        "required in production until a user exists)",
    )
    demo_accounts: bool = Field(
        True, description="In development only: create demo accounts with development passwords"
    )


class SimulatorSettings(_Section):
    enabled: bool = Field(False, description="Run the device simulators inside `safetwin run`")
    interval_s: float = Field(5.0, gt=0, description="Seconds between readings of one device")
    gateway_batch: bool = Field(False, description="Send gateway batches instead of one message per device")
    event_probability: float = Field(
        2e-4,
        ge=0,
        le=1,
        description="Chance per gas-sensor reading that a gas event starts (default: one a minute or two)",
    )
    seed: int = Field(0, description="Seed of the simulated values and gas events: same seed, same values")
    client_id: str = Field(
        "safetwin-sim",
        min_length=1,
        max_length=100,
        pattern=r"^[^/#+\s]+$",
        description="Prefix of the simulators' MQTT client ids",
    )


class Settings(BaseSettings):
    """The sections every part of SafeTwin shares; `safetwin.settings` adds the packages' own sections."""

    model_config = SettingsConfigDict(
        env_prefix="SAFETWIN_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    environment: Literal["development", "production"] = Field("development", description="Deployment mode")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    twin: TwinSettings = Field(default_factory=TwinSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    mqtt_auth: MqttAuthSettings = Field(default_factory=MqttAuthSettings)

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.environment == "production":
            if self.api.secret_key.get_secret_value() == DEV_SECRET:
                raise ValueError(
                    "api.secret_key is the development default; set SAFETWIN_API__SECRET_KEY "
                    "or a secret file api__secret_key before running in production"
                )
            pw = self.auth.bootstrap_admin_password
            if pw is not None and (
                pw.get_secret_value() in DEV_PASSWORDS.values() or len(pw.get_secret_value()) < 12
            ):
                raise ValueError(
                    "auth.bootstrap_admin_password is a development password or shorter than 12 characters; "
                    "set a strong one in SAFETWIN_AUTH__BOOTSTRAP_ADMIN_PASSWORD or a secret file"
                )
            if self.mqtt.is_embedded:
                raise ValueError("the embedded MQTT broker is for development; set mqtt.url in production")
            self._refuse_dev_mqtt_secrets()
        if self.mqtt.reconnect_min_s > self.mqtt.reconnect_max_s:
            raise ValueError("mqtt.reconnect_min_s must not exceed mqtt.reconnect_max_s")
        return self

    def _refuse_dev_mqtt_secrets(self) -> None:
        if self.mqtt.username is None or self.mqtt.password is None:
            raise ValueError(
                "mqtt.username and mqtt.password must be set in production (the broker must refuse "
                "anonymous clients): set SAFETWIN_MQTT__USERNAME and a secret file mqtt__password"
            )
        if is_dev_secret(self.mqtt.password):
            raise ValueError("mqtt.password is a development default; set a secret file mqtt__password")
        for name, value in self.mqtt_auth.secrets().items():
            if is_dev_secret(value):
                raise ValueError(
                    f"mqtt_auth.{name} is a development default; run scripts/make-secrets.sh or set "
                    f"a secret file mqtt_auth__{name}"
                )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets = NestedSecretsSettingsSource(
            file_secret_settings,
            secrets_prefix="",
            secrets_nested_delimiter="__",
            secrets_dir_missing="error",
        )
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, secrets]
        if _yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=_yaml_file))
        return tuple(sources)


_yaml_file: Path | None = None


S = TypeVar("S", bound=Settings)


def load_settings(
    config_file: Path | None = None, secrets_dir: Path | None = None, **overrides: Any
) -> Settings:
    """Load the shared sections only (tools that need no package section)."""
    return load_settings_as(Settings, config_file, secrets_dir, **overrides)


def load_settings_as(
    settings_cls: type[S], config_file: Path | None = None, secrets_dir: Path | None = None, **overrides: Any
) -> S:
    """Load settings, turning validation errors into one message that names each field and the fix."""
    global _yaml_file  # noqa: PLW0603 - pydantic-settings takes sources from a classmethod
    if config_file is not None and not config_file.is_file():
        raise SettingsError(f"config file {config_file} does not exist")
    _yaml_file = config_file
    try:
        kwargs: dict[str, Any] = dict(overrides)
        if secrets_dir is not None:
            if not secrets_dir.is_dir():
                raise SettingsError(f"secrets directory {secrets_dir} does not exist")
            kwargs["_secrets_dir"] = secrets_dir
        return settings_cls(**kwargs)
    except ValidationError as err:
        where = f" in {config_file}" if config_file else ""
        lines = [f"invalid settings{where}:"]
        for e in err.errors():
            field = ".".join(str(p) for p in e["loc"]) or "(settings)"
            env = "SAFETWIN_" + "__".join(str(p) for p in e["loc"]).upper()
            lines.append(f"  {field}: {e['msg']} (environment variable {env})")
        raise SettingsError("\n".join(lines)) from err
    finally:
        _yaml_file = None
