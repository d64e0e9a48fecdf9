"""One settings object for every wastestream process (pydantic-settings, prefix ``WASTESTREAM_``).

Values come, highest priority first, from: keyword arguments, environment variables,
``.env`` in the working directory, then ``<state_dir>/local.env`` which ``wastestream stack up``
writes after onboarding the local InfluxDB (its operator token never enters the repository).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".wastestream")
LOCAL_ENV_NAME = "local.env"


def city_timezone(path: Path) -> str:
    """The ``timezone`` of a city file (cached per file version)."""
    try:
        st = path.stat()
    except OSError:
        from wastestream.schemas.reference import City

        return str(City.model_fields["timezone"].default)
    return _city_timezone(str(path), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _city_timezone(path: str, _mtime_ns: int, _size: int) -> str:
    from wastestream.schemas.reference import load_city

    return load_city(path).timezone


def read_local_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a local env file ({} if it does not exist)."""
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.lstrip().startswith("#"):
                out[key.strip()] = value.strip()
    return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WASTESTREAM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # where things live
    state_dir: Path = Field(DEFAULT_STATE_DIR, description="runtime data, pid files, logs (gitignored)")

    # Kafka
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 19092

    # InfluxDB 2
    influx_host: str = "127.0.0.1"
    influx_port: int = 18086
    influx_org: str = "wastestream"
    influx_bucket: str = "wastestream"
    influx_token: SecretStr | None = None
    influx_write_concurrency: int = Field(
        4, ge=1, le=32, description="a write's request bodies (per bucket, 5,000 lines each) sent this many at a time"
    )

    # JT/T 808 gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 7808
    gateway_secret: SecretStr | None = Field(None, description="HMAC key of the weighbridge station tokens")
    gateway_idle_timeout_s: float = 180.0
    gateway_max_frame: int = 8192
    gateway_auth_file: Path | None = Field(
        None, description="issued auth codes (default <state_dir>/gateway-auth.json)"
    )
    gateway_frames_before_auth: int = Field(8, gt=0, description="frames a peer may send before it authenticates")
    gateway_split_parts: int = Field(128, gt=0, description="packets one sub-packaged message may claim")
    gateway_split_bytes: int = Field(256 * 1024, gt=0, description="incomplete sub-package bytes held per terminal")
    gateway_split_pending: int = Field(8, gt=0, description="incomplete sub-packaged messages held per terminal")
    gateway_split_timeout_s: float = Field(60.0, gt=0, description="an incomplete message is dropped after this")
    gateway_retransmit_after_s: float = Field(10.0, gt=0, description="missing packets asked for (0x8003) after this")
    gateway_lenient_checksum: bool = Field(False, description="accept and count frames with a wrong check code")
    gateway_self_register: bool = Field(
        False, description="let unknown terminals register (listed as unknown terminals)"
    )

    # weighbridge API
    weighbridge_host: str = "127.0.0.1"
    weighbridge_port: int = 8088
    weighbridge_tokens: SecretStr | None = Field(None, description="station_id=token pairs, comma separated")

    # complaints (POST /v1/complaints on the weighbridge API; wastestream complaints)
    dispatch_tokens: SecretStr | None = Field(
        None, description="dispatcher=token,... for the complaints API (default: one derived from the gateway secret)"
    )
    contractor_tokens: SecretStr | None = Field(
        None,
        description="contractor=token,... for the non-collection reports API (default: one per contractor derived"
        " from the gateway secret)",
    )
    complaints_interval_s: float = Field(60.0, gt=0, description="how often open cases are judged again")

    # paging (wastestream notify): the dispatch robot, and contractors' own robots
    notify_url: SecretStr | None = Field(
        None, description="the dispatch robot's webhook URL (DingTalk/WeCom robots carry their token in it)"
    )
    notify_format: Literal["dingtalk", "wecom", "webhook"] = Field(
        "webhook", description="dingtalk / wecom robot markdown messages, or plain JSON"
    )
    notify_secret: SecretStr | None = Field(None, description="DingTalk robot 加签 secret (SEC...), if it has one")
    notify_contractor_robots: SecretStr | None = Field(
        None, description="CONTRACTOR=URL,... : each contractor's own robot also gets its alerts"
    )
    notify_group_wait_s: float = Field(2.0, ge=0, description="alerts arriving this close together page together")
    notify_max_backoff_s: float = Field(60.0, gt=0, description="the longest wait between two tries of a page")
    notify_group: str | None = Field(None, description="consumer group (default <topic_prefix>wastestream-notify)")

    # Grafana: each contractor's viewer user (`wastestream grafana provision`)
    grafana_viewer_passwords: SecretStr | None = Field(
        None, description="CONTRACTOR=password,... (default: generated once into <state_dir>/grafana-viewers.json)"
    )

    # reference data
    city_file: Path = Field(Path(".wastestream/city.yaml"), description="the city: contractors, vehicles, sites")

    # Kafka topics and the worker's state (the local stack: one broker; a cluster: 3 and 2, as deploy/k8s)
    kafka_bootstrap_servers: str | None = Field(
        None, description="host:port,host:port of a cluster (default: the local broker kafka_host:kafka_port)"
    )
    topic_replication_factor: int = Field(1, ge=1, description="every topic, Faust's changelogs and ticks included")
    topic_min_insync_replicas: int = Field(1, ge=1, description="min.insync.replicas of every topic (acks=all)")
    table_standby_replicas: int = Field(0, ge=0, description="Faust standby copies of the worker's tables")
    terminal_checks_every_s: float = Field(
        30.0, ge=0, description="silent and dark terminals are judged at most this often of event time (per vehicle)"
    )
    fix_batch: int = Field(
        500,
        ge=1,
        le=1000,  # schemas.events.FIX_BATCH_MAX
        description="fixes per gps.fixes message from the gateway and replay, per partition (1: one fix per"
        " message, topic contract 1)",
    )
    fix_batch_linger_ms: float = Field(
        10.0, ge=0, le=1000, description="how long the gateway gathers fixes into a batch before it publishes them"
    )

    # the worker (wastestream worker)
    worker_clock: Literal["event", "wall"] = Field(
        "wall", description="wall: live (the wall clock, or the newest event time if later); event: replays"
    )
    worker_commit_interval_s: float = Field(0.5, gt=0, description="a commit point at least this often")
    worker_commit_max_events: int = Field(5000, gt=0, description="and once this many events wait")
    worker_tick_interval_s: float = Field(1.0, gt=0, description="ticks: deadlines and terminals judged")
    worker_visits_interval_s: float = Field(0.25, gt=0, description="changed visit sets published")
    worker_latency_window: int = Field(
        200_000, ge=1, le=10_000_000, description="the worker stats' latency quantiles: over this many latest fixes"
    )
    worker_producer_batch_bytes: int = Field(
        512 * 1024,
        ge=16 * 1024,
        le=1_000_000,  # the broker's message.max.bytes (1 MB by default) bounds a batch
        description="the worker's Kafka producer batch per partition (Faust's default, 16 KB, made a commit"
        " point's changelog messages wait for one broker round trip per 16 KB)",
    )

    # domain (the time zone is the city's: see ``timezone``)
    topic_partitions: int = 6
    topic_prefix: str = Field("", description="prepended to every topic name (isolates test runs and tenants)")

    # input checks (wastestream.domain.checks; the README's data-quality table)
    check_max_ahead_s: float = Field(600, gt=0, description="a device/weigh time at most this after its receive time")
    check_backfill_horizon_days: float = Field(7, gt=0, description="and at most this many days before it")
    check_max_speed_kmh: float = Field(220, gt=0)
    check_area_margin_km: float = Field(100, ge=0, description="valid positions lie within the city's sites ± this")
    dark_after_min: float = Field(30, gt=0, description="a vehicle due on a route, silent this long after its start")
    ops_every_min: float = Field(
        5.0,
        gt=0,
        description="a vehicle-day's operations (summary, violations, loads) are judged again at most this often"
        " while the event clock moves (each costs ~2 ms per 500 fixes)",
    )

    # weighbridge API limits
    weighbridge_max_body_bytes: int = Field(5 * 1024 * 1024, gt=0, description="larger requests get 413")
    weighbridge_max_rows: int = Field(5000, gt=0, description="tickets per request; more get 413")

    def core_options(self) -> dict:
        """The processing core's keyword arguments from these settings (the worker and recompute)."""
        from wastestream.domain.checks import InputRules  # settings import nothing of the domain at load

        rules = InputRules(
            max_ahead_s=self.check_max_ahead_s,
            backfill_horizon_s=self.check_backfill_horizon_days * 86400,
            max_speed_kmh=self.check_max_speed_kmh,
            area_margin_km=self.check_area_margin_km,
        )
        return {
            "input_rules": rules,
            "dark_after_s": self.dark_after_min * 60,
            "ops_every_s": self.ops_every_min * 60,
            "terminal_every_s": self.terminal_checks_every_s,
        }

    @property
    def timezone(self) -> str:
        """The city's time zone: its file is the one source (the City model's default, Asia/Shanghai,
        when there is no city file yet)."""
        return city_timezone(self.city_file)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """After init kwargs, env and ``.env``: the secrets `stack up` generated in ``<state_dir>/local.env``."""
        state = (
            getattr(init_settings, "init_kwargs", {}).get("state_dir")
            or os.environ.get("WASTESTREAM_STATE_DIR")
            or DEFAULT_STATE_DIR
        )
        local = DotEnvSettingsSource(settings_cls, env_file=Path(state) / LOCAL_ENV_NAME)
        return (init_settings, env_settings, dotenv_settings, local, file_secret_settings)

    @property
    def kafka_bootstrap(self) -> str:
        """The brokers to bootstrap from: ``kafka_bootstrap_servers`` (a cluster; `stack up --brokers
        3` writes its list to local.env), else the single local broker."""
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def influx_url(self) -> str:
        return f"http://{self.influx_host}:{self.influx_port}"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def local_env_file(self) -> Path:
        return self.state_dir / LOCAL_ENV_NAME

    def influx_token_value(self) -> str:
        if self.influx_token is None:
            from wastestream.errors import WastestreamError

            raise WastestreamError(
                f"no InfluxDB token: run `wastestream stack up` (writes {self.local_env_file}) "
                "or set WASTESTREAM_INFLUX_TOKEN"
            )
        return self.influx_token.get_secret_value()


class StackSettings(Settings):
    """The runtime settings plus what only the local development stack (``wastestream stack``) needs:
    what to install and how to run it on this machine. Runtime processes never read these."""

    cache_dir: Path = Field(
        Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "wastestream",
        description="downloaded jars and the influxd build, kept across clones",
    )
    kafka_version: str = "4.1.1"
    kafka_controller_port: int = 19093
    kafka_heap: str = "1g"
    kafka_brokers: int = Field(1, ge=1, le=9, description="nodes of the local Kafka (`stack up --brokers 3`)")
    influxdb_version: str = "v2.9.1"
    influx_admin_user: str = "wastestream-admin"

    @property
    def local_brokers(self) -> str:
        """host:port of every node of the local Kafka (each node takes two ports)."""
        return ",".join(f"{self.kafka_host}:{self.kafka_port + 2 * i}" for i in range(self.kafka_brokers))

    @property
    def kafka_bootstrap(self) -> str:
        return self.kafka_bootstrap_servers or self.local_brokers


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def get_stack_settings() -> StackSettings:
    return StackSettings()
