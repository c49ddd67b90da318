"""One office deploys on its own: its wheel, with kit's and proto's, installs in a fresh virtualenv
and the service starts from there, its catalogue, processes and migrations coming from the wheel.

The dependencies come from a wheelhouse in ``.venv/wheelhouse`` (filled from the package index the
first time, with the versions of constraints.txt), so later runs install without the network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ostan_devstack.stack import free_port
from ostan_kit.runtime.registry import SERVICES

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "foreign-nationals"
PROJECTS = [ROOT / "proto" / "python", ROOT / "kit", ROOT / "services" / SERVICE]
WHEELHOUSE = Path(sys.executable).parent.parent / "wheelhouse"
NOT_COPIED = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".generated")


def _pip(python: Path, *args: str) -> None:
    result = subprocess.run([str(python), "-m", "pip", "--quiet", *args], capture_output=True, text=True)
    if result.returncode:
        raise PipFailed(f"pip {' '.join(args)}:\n{result.stdout}{result.stderr}")


class PipFailed(Exception):
    pass


def _build_wheels(out: Path, scratch: Path) -> list[Path]:
    """Each project is copied first, so that building leaves nothing in the checkout."""
    for project in PROJECTS:
        copy = scratch / project.relative_to(ROOT)
        shutil.copytree(project, copy, ignore=NOT_COPIED)
        _pip(Path(sys.executable), "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(copy))
    return sorted(out.glob("*.whl"))


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scratch = tmp_path_factory.mktemp("wheels")
    wheels = _build_wheels(scratch / "dist", scratch / "src")
    assert [wheel.name.split("-")[0] for wheel in wheels] == ["ostan_foreign_nationals", "ostan_kit", "ostan_proto"]
    environment = scratch / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    offline = ["install", "--no-index", "--no-compile", "--find-links", str(WHEELHOUSE), *map(str, wheels)]
    try:
        _pip(python, *offline)
    except PipFailed:  # first run, or constraints.txt moved on: fill the wheelhouse
        _pip(Path(sys.executable), "wheel", "--wheel-dir", str(WHEELHOUSE), "-c", str(ROOT / "constraints.txt"), *map(str, wheels))
        for copy in WHEELHOUSE.glob("ostan_*.whl"):  # pip copies ours too; a stale one would shadow the next
            copy.unlink()
        _pip(python, *offline)
    return python


def test_the_wheels_carry_the_service_data_and_no_checkout_is_needed(fresh_python: Path, tmp_path: Path):
    package = SERVICES[SERVICE].package
    found = subprocess.run(
        [str(fresh_python), "-c", f"import importlib.resources as r; print(r.files('{package}')); print(r.files('ostan_kit'))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    service_root, kit_root = (Path(line) for line in found)
    site = fresh_python.parent.parent
    assert site in service_root.parents and site in kit_root.parents
    assert (service_root / "processes" / "residence-document-extension.yaml").is_file()
    assert list((service_root / "catalogue").glob("*.yaml"))
    assert (service_root / "migrations" / "versions" / "0001_chassis.py").is_file()
    assert list((kit_root / "processes" / "shared").glob("commission@*.yaml"))
    assert (kit_root / "catalogue" / "data" / "organisation.yaml").is_file()


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "nats-server"), "--addr", "127.0.0.1", "--port", str(port),
         "--jetstream", "--store_dir", str(tmp_path / "nats")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def _overall_health(port: int) -> int | None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1).status
        except grpc.RpcError:
            return None


def test_the_installed_service_migrates_and_serves_its_health(fresh_python: Path, nats_url: str, tmp_path: Path):
    prefix = SERVICES[SERVICE].env_prefix
    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("OSTAN_", "PYTHON", "VIRTUAL_ENV"))
    } | {
        prefix + "GRPC_PORT": str(port),
        prefix + "NATS_URL": nats_url,
        prefix + "STATE_DIR": str(tmp_path / "state"),
        prefix + "HEALTH_INTERVAL_SECONDS": "0.2",
        prefix + "SHUTDOWN_GRACE_SECONDS": "1",
        "OTEL_SDK_DISABLED": "true",
    }
    service = subprocess.Popen(
        [str(fresh_python), "-m", SERVICES[SERVICE].package],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = None
        for _ in range(150):  # bounded wait for start-up; the assertion is on the answer, not the time
            status = _overall_health(port)
            if status == health_pb2.HealthCheckResponse.SERVING or service.poll() is not None:
                break
            time.sleep(0.2)
        if status != health_pb2.HealthCheckResponse.SERVING:
            service.terminate()
            output, _ = service.communicate(timeout=30)
            raise AssertionError("the service did not become healthy:\n" + output.decode()[-3000:])
        assert (tmp_path / "state" / "db" / f"{SERVICE}.db").is_file()  # migrated from the wheel's history
    finally:
        service.terminate()
        output, _ = service.communicate(timeout=30)
    assert service.returncode == 0, output.decode()
