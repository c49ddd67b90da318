"""The bus's configuration in deploy/k8s, checked by the real nats-server: it parses with the
passwords every office's pod is given, and a server run with its users and permissions (the
cluster block aside, one server) lets an office's own client publish its events and nothing else."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError, TimeoutError

from ostan_kit.messaging.bus import Bus
from ostan_kit.runtime.registry import SERVICES

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "k8s" / "base" / "nats" / "nats.conf"
DEPLOYMENTS = ROOT / "deploy" / "k8s" / "base"
NATS_SERVER = Path(sys.executable).parent / "nats-server"


def _password_variable(name: str) -> str:
    """The key of the Secret ostan-nats-users that the office's Deployment reads."""
    deployment = (DEPLOYMENTS / name / "deployment.yaml").read_text("utf-8")
    (key,) = set(re.findall(r"name: ostan-nats-users\n\s+key: (\w+)", deployment))
    return key


PASSWORDS = {name: f"secret-of-{name}" for name in SERVICES}
ENVIRONMENT = {"SERVER_NAME": "nats-0", **{_password_variable(name): PASSWORDS[name] for name in SERVICES}}


def _check(environment: dict[str, str], config: Path = CONFIG) -> subprocess.CompletedProcess:
    return subprocess.run([str(NATS_SERVER), "-c", str(config), "-t"], env=environment, capture_output=True, text=True)


def test_the_configuration_is_valid_with_the_passwords_the_offices_are_given():
    result = _check(ENVIRONMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    missing = dict(ENVIRONMENT)
    del missing[_password_variable("urban")]
    assert _check(missing).returncode != 0, "every office's password must come from the Secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    """One server from the deployed configuration: addresses and folders moved, no cluster."""
    port = _free_port()
    text = CONFIG.read_text("utf-8")
    for deployed, local in (
        ("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}"),
        ("http: 0.0.0.0:8222\n", ""),
        ("store_dir: /data/jetstream", f"store_dir: {tmp_path / 'jetstream'}"),
        ("pid_file: /data/nats.pid", f"pid_file: {tmp_path / 'nats.pid'}"),
    ):
        assert deployed in text
        text = text.replace(deployed, local)
    text, clusters = re.subn(r"\ncluster \{.*?\n\}\n", "\n", text, flags=re.S)
    assert clusters == 1
    local_config = tmp_path / "nats.conf"
    local_config.write_text(text, "utf-8")
    process = subprocess.Popen(
        [str(NATS_SERVER), "-c", str(local_config)], env=ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            await asyncio.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _url(name: str, address: str, password: str | None = None) -> str:
    return f"nats://{name}:{password or PASSWORDS[name]}@{address}"


async def _connected(bus: Bus) -> None:
    bus.start()
    for _ in range(100):
        if bus.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{bus.name} did not connect and make its stream")


async def test_each_office_makes_its_stream_and_publishes_its_events_as_its_own_user(server):
    for name in ("foreign-nationals", "urban"):
        info = SERVICES[name]
        bus = Bus(_url(name, server), name=f"ostan-{name}", stream=info.stream, subjects=[f"ostan.{name}.>"])
        try:
            await _connected(bus)
            duplicate = await bus.publish(f"ostan.{name}.some-process.submitted", b"{}", {"Nats-Msg-Id": "event-1"})
            assert duplicate is False
        finally:
            await bus.close()


async def test_an_office_cannot_touch_another_offices_stream_or_subjects(server):
    urban = Bus(_url("urban", server), name="ostan-urban", stream=SERVICES["urban"].stream, subjects=["ostan.urban.>"])
    await _connected(urban)
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    client = await nats.connect(_url("foreign-nationals", server), error_cb=on_error, allow_reconnect=False)
    try:
        js = client.jetstream(timeout=1)
        with pytest.raises(TimeoutError):  # the request never reaches JetStream
            await js.stream_info(SERVICES["urban"].stream)
        with pytest.raises(TimeoutError):
            await js.publish("ostan.urban.some-process.submitted", b"{}")
        await client.flush()
    finally:
        await client.close()
        await urban.close()
    violations = " ".join(str(error) for error in errors).lower()
    assert 'permissions violation for publish to "$js.api.stream.info.ostan_urban"' in violations
    assert 'permissions violation for publish to "ostan.urban.some-process.submitted"' in violations


async def test_no_one_connects_without_a_users_password(server):
    for url in (f"nats://{server}", _url("urban", server, password="guessed")):
        with pytest.raises((NoServersError, nats.errors.Error, OSError)):
            await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
