"""The real local stack: Apache Kafka (KRaft, one node) and InfluxDB 2, installed and run by the project.

* Kafka: broker jars from Maven Central (``mvn dependency:copy-dependencies`` on
  ``deploy/local/kafka/pom.xml``) cached by version; storage formatted on first start;
  ``java -cp 'libs/*' kafka.Kafka server.properties``.
* InfluxDB: ``influxd`` built from its Go module by ``deploy/local/build-influxd.sh`` (libflux by
  cargo), cached by version; started with the UI disabled; onboarded with ``POST /api/v2/setup``.

Both listen on 127.0.0.1 only. Pid files and logs live under ``Settings.state_dir``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from wastestream.admin import admin_client, ensure_topics
from wastestream.errors import WastestreamError
from wastestream.settings import StackSettings as Settings
from wastestream.settings import read_local_env
from wastestream.topics import ALL_TOPICS

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEPLOY_LOCAL = PROJECT_ROOT / "deploy" / "local"

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child is not alive for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    log: Path
    detail: str = ""


class Service(ABC):
    """A local server process managed through a pid file."""

    name: str
    start_timeout: float = 120.0

    def __init__(self, settings: Settings):
        self.s = settings

    # -- paths -------------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return self.s.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.s.log_dir / f"{self.name}.log"

    @property
    def data_dir(self) -> Path:
        return self.s.state_dir / self.name

    # -- what each service defines ------------------------------------------------------------
    @property
    @abstractmethod
    def ports(self) -> list[int]: ...

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def install(self, report: Report) -> None:
        """Fetch/build what the service needs (cached); idempotent."""

    @abstractmethod
    def prepare(self, report: Report) -> list[str]:
        """Write config, initialise storage; return the command line."""

    @abstractmethod
    def ready(self) -> bool: ...

    def after_start(self, report: Report) -> None:  # noqa: B027 - optional hook
        pass

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    # -- lifecycle ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of our running process, removing a stale pid file."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> ServiceStatus:
        pid = self.pid()
        up = pid is not None and self.ready()
        detail = "" if pid is None or up else "process alive but not ready"
        return ServiceStatus(self.name, up, pid, self.address, self.log_file, detail)

    def up(self, report: Report = _quiet) -> None:
        if self.pid() is not None:
            if self._wait_ready(self.start_timeout):
                report(f"{self.name}: already running at {self.address}")
                self.after_start(report)
                return
            raise WastestreamError(f"{self.name} (pid {self.pid()}) is running but not ready; see {self.log_file}")
        proc = self.spawn(report)
        self.await_ready(proc, report)
        self.after_start(report)

    def spawn(self, report: Report = _quiet) -> subprocess.Popen:
        """Start the process (without waiting for it to be ready)."""
        for port in self.ports:
            if port_open("127.0.0.1", port):
                raise WastestreamError(
                    f"{self.name}: port {port} on 127.0.0.1 is taken by another process "
                    f"(not ours: no live pid in {self.pid_file}); stop it or choose another port"
                )
        self.install(report)
        cmd = self.prepare(report)
        self.s.run_dir.mkdir(parents=True, exist_ok=True)
        self.s.log_dir.mkdir(parents=True, exist_ok=True)
        report(f"{self.name}: starting (log {self.log_file})")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self.env(),
                cwd=self.data_dir,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc

    def await_ready(self, proc: subprocess.Popen, report: Report = _quiet) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise WastestreamError(
                    f"{self.name} exited with code {proc.returncode} while starting; see {self.log_file}"
                )
            if self.ready():
                break
            time.sleep(0.5)
        else:
            self.down()
            raise WastestreamError(f"{self.name} not ready after {self.start_timeout:.0f}s; see {self.log_file}")
        report(f"{self.name}: ready at {self.address} (pid {proc.pid})")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready():
                return True
            if self.pid() is None:
                return False
            time.sleep(0.5)
        return False

    def down(self, report: Report = _quiet, timeout: float = 45.0) -> None:
        pid = self.pid()
        if pid is None:
            report(f"{self.name}: not running")
            return
        report(f"{self.name}: stopping pid {pid}")
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.2)
        if pid_alive(pid):
            report(f"{self.name}: did not stop in {timeout:.0f}s, killing")
            self._signal(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        report(f"{self.name}: stopped")

    @staticmethod
    def _signal(pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)  # the process was started as a session leader
        except ProcessLookupError:
            pass
        except PermissionError:
            os.kill(pid, sig)
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _run_logged(cmd: list[str], log: Path, what: str, env: dict[str, str] | None = None) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as f:
        res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, env=env, check=False)
    if res.returncode != 0:
        raise WastestreamError(f"{what} failed (exit {res.returncode}); see {log}")
    return res.stdout.decode().strip()


class Kafka(Service):
    """One Kafka node (broker and controller). ``index`` 0 is ``kafka``; a cluster of
    ``Settings.kafka_brokers`` nodes adds ``kafka-1``, ``kafka-2``, ... on the next ports (broker
    ``kafka_port + 2·i``, controller ``kafka_controller_port + 2·i``), one KRaft quorum of them all."""

    name = "kafka"
    start_timeout = 120.0

    def __init__(self, settings: Settings, index: int = 0):
        super().__init__(settings)
        self.index = index
        if index:
            self.name = f"kafka-{index}"

    @property
    def port(self) -> int:
        return self.s.kafka_port + 2 * self.index

    @property
    def controller_port(self) -> int:
        return self.s.kafka_controller_port + 2 * self.index

    @property
    def ports(self) -> list[int]:
        return [self.port, self.controller_port]

    @property
    def address(self) -> str:
        return f"{self.s.kafka_host}:{self.port}"

    @property
    def libs_dir(self) -> Path:
        return self.s.cache_dir / "kafka" / self.s.kafka_version / "libs"

    def install(self, report: Report) -> None:
        marker = self.libs_dir / ".complete"
        if marker.exists():
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise WastestreamError("kafka needs `java` (17+) and `mvn` on PATH to fetch the broker jars")
        report(f"kafka: fetching Apache Kafka {self.s.kafka_version} jars from Maven Central")
        shutil.rmtree(self.libs_dir, ignore_errors=True)
        _run_logged(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(DEPLOY_LOCAL / "kafka" / "pom.xml"),
                f"-Dkafka.version={self.s.kafka_version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs_dir}",
                "-DincludeScope=runtime",
            ],
            self.s.log_dir / "kafka-install.log",
            "fetching Kafka jars with mvn",
        )
        marker.write_text(self.s.kafka_version)

    def _java(self, *args: str) -> list[str]:
        return [
            "java",
            f"-Xmx{self.s.kafka_heap}",
            f"-Xms{self.s.kafka_heap}",
            f"-Dlog4j2.configurationFile={DEPLOY_LOCAL / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.s.log_dir.resolve()}",
            "-cp",
            f"{self.libs_dir}/*",
            *args,
        ]

    def prepare(self, report: Report) -> list[str]:
        data = (self.data_dir / "data").resolve()
        data.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        n = self.s.kafka_brokers
        props.write_text(self.properties(data))
        if not (data / "meta.properties").exists():
            report(f"{self.name}: formatting KRaft storage")
            fmt = ["--standalone"] if n == 1 else []
            _run_logged(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    self._cluster_id(),
                    "-c",
                    str(props.resolve()),
                    *fmt,
                    "--ignore-formatted",
                ),
                self.log_file,
                "kafka storage format",
            )
        return self._java("kafka.Kafka", str(props.resolve()))

    def properties(self, data: Path) -> str:
        """This node's server.properties: the single-node file, or a node of the cluster's quorum."""
        n = self.s.kafka_brokers
        common = dict(
            host=self.s.kafka_host,
            port=self.port,
            controller_port=self.controller_port,
            log_dirs=data,
            partitions=self.s.topic_partitions,
        )
        if n == 1:
            return (DEPLOY_LOCAL / "kafka" / "server.properties").read_text().format(**common)
        voters = ",".join(f"{i + 1}@{self.s.kafka_host}:{self.s.kafka_controller_port + 2 * i}" for i in range(n))
        return (
            (DEPLOY_LOCAL / "kafka" / "server-cluster.properties")
            .read_text()
            .format(
                **common,
                node_id=self.index + 1,
                voters=voters,
                replication=min(3, n),
                min_isr=self.s.topic_min_insync_replicas,
            )
        )

    def _cluster_id(self) -> str:
        """One cluster id for every node of the local cluster (kept beside their data)."""
        path = self.s.state_dir / "kafka-cluster-id"
        if path.exists():
            return path.read_text().strip()
        cluster_id = _run_logged(
            self._java("kafka.tools.StorageTool", "random-uuid"), self.log_file, "kafka random-uuid"
        ).splitlines()[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cluster_id)
        return cluster_id

    def ready(self) -> bool:
        if not port_open(self.s.kafka_host, self.port):
            return False
        try:
            with admin_client(
                self.s.model_copy(update={"kafka_bootstrap_servers": self.address}), timeout_ms=3000
            ) as admin:
                admin.list_topics()
            return True
        except Exception:  # noqa: BLE001 - any failure means not ready yet
            return False

    def after_start(self, report: Report) -> None:
        created = ensure_topics(self.s, ALL_TOPICS)
        if created:
            report(f"kafka: created topics {', '.join(created)}")


class InfluxDB(Service):
    name = "influxdb"
    start_timeout = 60.0

    @property
    def ports(self) -> list[int]:
        return [self.s.influx_port]

    @property
    def address(self) -> str:
        return self.s.influx_url

    @property
    def binary(self) -> Path:
        return self.s.cache_dir / "influxdb" / self.s.influxdb_version / "influxd"

    def install(self, report: Report) -> None:
        if self.binary.exists():
            return
        log = self.binary.parent / "build.log"
        report(
            f"influxdb: building influxd {self.s.influxdb_version} from its Go module with libflux "
            f"(first time only: about 5 min measured here on 2 cores; log {log})"
        )
        env = {**os.environ, "INFLUXDB_VERSION": self.s.influxdb_version, "WASTESTREAM_CACHE": str(self.s.cache_dir)}
        proc = subprocess.Popen(
            ["bash", str(DEPLOY_LOCAL / "build-influxd.sh")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started = time.monotonic()
        while proc.poll() is None:
            time.sleep(5)
            mins = (time.monotonic() - started) / 60
            if int(time.monotonic() - started) % 60 < 5:
                report(f"influxdb: still building ({mins:.0f} min)")
        if proc.returncode != 0 or not self.binary.exists():
            raise WastestreamError(f"influxd build failed (exit {proc.returncode}); see {log}")
        report(f"influxdb: built {self.binary} in {(time.monotonic() - started) / 60:.1f} min")

    def prepare(self, report: Report) -> list[str]:
        d = self.data_dir.resolve()
        d.mkdir(parents=True, exist_ok=True)
        return [
            str(self.binary),
            f"--http-bind-address={self.s.influx_host}:{self.s.influx_port}",
            f"--bolt-path={d / 'influxd.bolt'}",
            f"--engine-path={d / 'engine'}",
            f"--sqlite-path={d / 'influxd.sqlite'}",
            "--ui-disabled",
            "--reporting-disabled",
            "--log-level=warn",
        ]

    def env(self) -> dict[str, str]:
        # influxd reads INFLUXD_* variables; keep an operator's shell config out of our instance
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXD_")}

    def ready(self) -> bool:
        try:
            r = httpx.get(f"{self.s.influx_url}/health", timeout=2)
            return r.status_code == 200 and r.json().get("status") == "pass"
        except (httpx.HTTPError, ValueError):
            return False

    def after_start(self, report: Report) -> None:
        onboard(self.s, report)


def onboard(settings: Settings, report: Report = _quiet) -> str:
    """Run InfluxDB's initial setup once; the operator token goes to ``<state_dir>/local.env``."""
    base = settings.influx_url
    allowed = httpx.get(f"{base}/api/v2/setup", timeout=10).json().get("allowed", False)
    env_file = settings.local_env_file
    if not allowed:
        token = read_local_env(env_file).get("WASTESTREAM_INFLUX_TOKEN")
        if token is None and settings.influx_token is not None:
            token = settings.influx_token.get_secret_value()
        if token is None:
            raise WastestreamError(
                f"InfluxDB at {base} is already set up but no token is in {env_file}; "
                "run `wastestream stack reset` to start from empty data"
            )
        return token
    token = secrets.token_urlsafe(32)
    password = secrets.token_urlsafe(24)
    body: dict[str, str | int] = {
        "username": settings.influx_admin_user,
        "password": password,
        "org": settings.influx_org,
        "bucket": settings.influx_bucket,
        "token": token,
        "retentionPeriodSeconds": 0,
    }
    r = httpx.post(f"{base}/api/v2/setup", json=body, timeout=30)
    if r.status_code >= 300:
        raise WastestreamError(f"InfluxDB onboarding failed: HTTP {r.status_code} {r.text[:200]}")
    write_local_env(env_file, {"WASTESTREAM_INFLUX_TOKEN": token, "WASTESTREAM_INFLUX_ADMIN_PASSWORD": password})
    report(f"influxdb: onboarded org '{settings.influx_org}', bucket '{settings.influx_bucket}'; token in {env_file}")
    return token


def write_local_env(path: Path, values: dict[str, str]) -> None:
    current = read_local_env(path)
    current.update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        "# written by `wastestream stack up`; local secrets, never commit\n"
        + "".join(f"{k}={v}\n" for k, v in sorted(current.items()))
    )
    tmp.chmod(0o600)
    tmp.replace(path)


def ensure_local_secrets(settings: Settings) -> None:
    """Generate the local secrets the services need (once), into ``<state_dir>/local.env``."""
    current = read_local_env(settings.local_env_file)
    if "WASTESTREAM_GATEWAY_SECRET" not in current:  # (a value from the environment still wins)
        write_local_env(settings.local_env_file, {"WASTESTREAM_GATEWAY_SECRET": secrets.token_hex(32)})


class AppProcess(Service):
    """One of wastestream's own long-running processes (gateway, weighbridge, worker) in the background."""

    start_timeout = 60.0

    def __init__(self, settings: Settings, name: str, args: list[str], port: int | None):
        super().__init__(settings)
        self.name = name
        self.args = args
        self.port = port

    @property
    def ports(self) -> list[int]:
        return [self.port] if self.port else []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}" if self.port else "-"

    def install(self, report: Report) -> None:
        pass

    def prepare(self, report: Report) -> list[str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        import sys

        return [sys.executable, "-m", "wastestream.cli", *self.args]

    def env(self) -> dict[str, str]:
        # the child resolves relative paths (state dir, city file) from the project root
        return {
            **os.environ,
            "WASTESTREAM_STATE_DIR": str(self.s.state_dir.resolve()),
            "WASTESTREAM_CITY_FILE": str(self.s.city_file.resolve()),
        }

    def ready(self) -> bool:
        if self.port:
            return port_open("127.0.0.1", self.port)
        return self.pid() is not None


SERVERS = ("kafka", "influxdb")
APPS = ("gateway", "weighbridge", "worker", "notify", "complaints")
# what each of wastestream's own processes needs running first (`stack up weighbridge` starts Kafka)
DEPENDS: dict[str, tuple[str, ...]] = {
    "gateway": ("kafka",),
    "weighbridge": ("kafka",),
    "worker": ("kafka", "influxdb"),
    "notify": ("kafka",),
    "complaints": ("kafka", "influxdb"),
}


def with_dependencies(names: list[str]) -> list[str]:
    """``names`` with what each needs, dependencies first, each once, in the order asked."""
    out: list[str] = []
    for n in names:
        for d in (*DEPENDS.get(n, ()), n):
            if d not in out:
                out.append(d)
    return out


class Stack:
    """The servers (Kafka, InfluxDB) and wastestream's own processes, in start order."""

    def __init__(self, settings: Settings, worker_clock: str = "event"):
        self.settings = settings
        s = settings
        nodes = [Kafka(s, i) for i in range(s.kafka_brokers)]
        self.kafka_nodes = nodes
        self.services: dict[str, Service] = {
            **{k.name: k for k in nodes},
            "influxdb": InfluxDB(s),
            "gateway": AppProcess(s, "gateway", ["gateway"], s.gateway_port),
            "weighbridge": AppProcess(s, "weighbridge", ["weighbridge"], s.weighbridge_port),
            "worker": AppProcess(s, "worker", ["worker", "--clock", worker_clock], None),
            "notify": AppProcess(s, "notify", ["notify"], None),
            "complaints": AppProcess(s, "complaints", ["complaints"], None),
        }

    def select(self, names: list[str] | None, default: tuple[str, ...] = SERVERS) -> list[Service]:
        names = list(names or default)
        if "kafka" in names:  # every node of the local Kafka cluster
            i = names.index("kafka")
            names[i : i + 1] = [k.name for k in self.kafka_nodes]
        unknown = [n for n in names if n not in self.services]
        if unknown:
            raise WastestreamError(f"unknown service {unknown[0]!r}; choose from {', '.join(self.services)}")
        return [self.services[n] for n in dict.fromkeys(names)]

    def install(self, report: Report = _quiet, names: list[str] | None = None) -> None:
        for svc in self.select(names):
            svc.install(report)

    def up(self, report: Report = _quiet, names: list[str] | None = None) -> None:
        ensure_local_secrets(self.settings)
        selected = self.select(with_dependencies(list(names)) if names else None)
        nodes = [svc for svc in selected if isinstance(svc, Kafka)]
        if len(nodes) > 1:  # a quorum elects a leader only once a majority runs: start them all, then wait
            started = [(k, k.spawn(report)) for k in nodes if k.pid() is None]
            for k, proc in started:
                k.await_ready(proc, report)
            nodes[-1].after_start(report)
        for svc in selected:
            if len(nodes) <= 1 or not isinstance(svc, Kafka):
                svc.up(report)

    def down(self, report: Report = _quiet, names: list[str] | None = None) -> None:
        nodes = [k for k in self.select(names, SERVERS + APPS) if isinstance(k, Kafka) and k.pid() is not None]
        if len(nodes) > 1:  # a cluster: all at once (the last node alone would wait for a quorum to shut down)
            for k in nodes:
                pid = k.pid()
                if pid is not None:
                    k._signal(pid, signal.SIGTERM)
        for svc in reversed(self.select(names, SERVERS + APPS)):
            if svc.name in SERVERS or svc.pid() is not None:
                svc.down(report)

    def status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        return [svc.status() for svc in self.select(names, SERVERS)]

    def reset(self, report: Report = _quiet) -> None:
        self.down(report)
        for svc in self.select(None, SERVERS):
            shutil.rmtree(svc.data_dir, ignore_errors=True)
        (self.settings.state_dir / "kafka-cluster-id").unlink(missing_ok=True)
        self.settings.local_env_file.unlink(missing_ok=True)
        report(f"removed local data under {self.settings.state_dir}")
