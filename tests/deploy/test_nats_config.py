"""The bus's configuration in deploy/k8s, checked by the real nats-server: the cluster's nats.conf
parses with the users (auth.conf) that `python -m ostan_kit.messaging.natsauth secret` puts into
the Secret nats-config, and a server run from it (the cluster block aside, one server) lets an
office's own client, with the seed of its Secret, publish its events and nothing of another's."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nkeys
import pytest
import yaml
from nats.errors import TimeoutError

from ostan_devstack.stack import free_port
from ostan_kit.messaging.bus import Bus, connect_options
from ostan_kit.runtime.registry import SERVICES

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "k8s" / "base" / "nats" / "nats.conf"
NATS_SERVER = Path(sys.executable).parent / "nats-server"
# The server's name comes from its pod's name (the StatefulSet sets SERVER_NAME).
ENVIRONMENT = {"SERVER_NAME": "nats-0", "PATH": os.environ.get("PATH", "")}


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The Secrets as the README has them made: name -> key -> decoded value."""
    keys = tmp_path_factory.mktemp("nats-keys")
    result = subprocess.run(
        [sys.executable, "-m", "ostan_kit.messaging.natsauth", "secret", "--dir", str(keys), "--namespace", "ostan"],
        capture_output=True,
        text=True,
        check=True,
    )
    documents = [document for document in yaml.safe_load_all(result.stdout) if document]
    assert {document["metadata"]["namespace"] for document in documents} == {"ostan"}
    return {
        document["metadata"]["name"]: {key: base64.b64decode(value) for key, value in document["data"].items()}
        for document in documents
    }


def _check(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NATS_SERVER), "-c", str(folder / "nats.conf"), "-t"], env=ENVIRONMENT, capture_output=True, text=True
    )


def test_the_command_makes_the_servers_users_and_a_seed_secret_for_every_office(secrets):
    assert {"nats.conf", "auth.conf"} <= set(secrets["nats-config"])
    for name in SERVICES:
        assert secrets[f"nats-service-{name}"]["user.nk"].startswith(b"SU"), name
    assert "nats-gateway" in secrets
    assert any(name.startswith("nats-agency-") for name in secrets)


def test_the_cluster_configuration_is_valid_with_the_users_it_includes(secrets, tmp_path):
    (tmp_path / "nats.conf").write_text(CONFIG.read_text("utf-8"), "utf-8")
    missing = _check(tmp_path)
    assert missing.returncode != 0, "the configuration must not start without its users"
    (tmp_path / "auth.conf").write_bytes(secrets["nats-config"]["auth.conf"])
    result = _check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
async def server(secrets, tmp_path: Path) -> AsyncIterator[str]:
    """One server from the deployed configuration: addresses and folders moved, no cluster."""
    port = free_port()
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
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "nats.conf").write_text(text, "utf-8")
    (folder / "auth.conf").write_bytes(secrets["nats-config"]["auth.conf"])
    process = subprocess.Popen(
        [str(NATS_SERVER), "-c", str(folder / "nats.conf")], env=ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            await asyncio.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def _seed_file(secrets, name: str, folder: Path) -> Path:
    """The seed as the office's pod has it: the key user.nk of its Secret, mounted as a file."""
    path = folder / f"{name}.nk"
    path.write_bytes(secrets[f"nats-service-{name}"]["user.nk"])
    return path


def _bus(url: str, name: str, seed_file: Path) -> Bus:
    info = SERVICES[name]
    return Bus(url, name=f"ostan-{name}", stream=info.stream, subjects=[f"ostan.{name}.>"], identity=f"service-{name}", seed_file=seed_file)


async def _connected(bus: Bus) -> None:
    bus.start()
    for _ in range(100):
        if bus.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{bus.name} did not connect and make its stream")


async def test_each_office_makes_its_stream_and_publishes_its_events_with_its_own_seed(server, secrets, tmp_path):
    for name in ("foreign-nationals", "urban"):
        bus = _bus(server, name, _seed_file(secrets, name, tmp_path))
        try:
            await _connected(bus)
            duplicate = await bus.publish(f"ostan.{name}.some-process.submitted", b"{}", {"Nats-Msg-Id": "event-1"})
            assert duplicate is False
        finally:
            await bus.close()


async def test_an_office_cannot_touch_another_offices_stream_or_subjects(server, secrets, tmp_path):
    urban = _bus(server, "urban", _seed_file(secrets, "urban", tmp_path))
    await _connected(urban)
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    client = await nats.connect(
        server,
        error_cb=on_error,
        allow_reconnect=False,
        **connect_options("service-foreign-nationals", _seed_file(secrets, "foreign-nationals", tmp_path)),
    )
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
    assert f'permissions violation for publish to "$js.api.stream.info.{SERVICES["urban"].stream.lower()}"' in violations
    assert 'permissions violation for publish to "ostan.urban.some-process.submitted"' in violations


async def test_no_one_connects_without_a_known_key(server, tmp_path):
    unknown = tmp_path / "unknown.nk"
    unknown.write_bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER))
    for options in ({}, {"nkeys_seed": str(unknown)}):
        with pytest.raises((nats.errors.NoServersError, nats.errors.Error, OSError)):
            await nats.connect(server, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2, **options)
