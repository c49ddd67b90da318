"""`make run`'s command: it starts all ten processes, says where they are, makes the local keys
the tokens command uses, and Ctrl-C stops every one of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from ostan_devstack.stack import free_port
from ostan_kit.runtime.registry import SERVICES

pytestmark = pytest.mark.e2e


def test_run_starts_ten_processes_and_ctrl_c_leaves_none(tmp_path):
    gateway_port = free_port()
    environment = {
        **os.environ,
        "OSTAN_STATE_DIR": str(tmp_path),
        "OSTAN_GATEWAY_PORT": str(gateway_port),
        "OSTAN_NATS_PORT": str(free_port()),
        "OSTAN_GATEWAY_METRICS_PORT": str(free_port()),
    }
    # The fixed default service ports may be taken by a running `make run`: move them too.
    for info in SERVICES.values():
        environment[info.env_prefix + "GRPC_PORT"] = str(free_port())
        environment[info.env_prefix + "METRICS_PORT"] = str(free_port())
    runner = subprocess.Popen(
        [sys.executable, "-m", "ostan_devstack", "run"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = runner.stdout.readline()
            output.append(line)
            if "Ctrl-C stops everything" in line or not line:
                break
        text = "".join(output)
        assert "Ostan is running" in text, text
        assert f"http://127.0.0.1:{gateway_port}" in text
        assert "ostan_kit.runtime.traces show" in text
        children = psutil.Process(runner.pid).children(recursive=True)
        assert len(children) == 10, [child.cmdline() for child in children]  # bus, 7 services, agencies, gateway
        # The local keys are in the state folder: the tokens command signs with the same secret.
        assert (tmp_path / "keys" / "gateway-assertion-key.pem").stat().st_mode & 0o077 == 0
        token = subprocess.run(
            [sys.executable, "-m", "ostan_gateway.tokens", "staff", "--office", "foreign-nationals",
             "--role", "clerk", "--name", "سارا احمدی"],
            env={key: value for key, value in environment.items() if key != "OSTAN_GATEWAY_JWT_SECRET"},
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        inbox = httpx.get(
            f"http://127.0.0.1:{gateway_port}/v1/cases", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert inbox.status_code == 200, inbox.text
    finally:
        runner.send_signal(signal.SIGINT)
        rest, _ = runner.communicate(timeout=60)
    assert runner.returncode == 0, rest
    assert "Stopped." in rest
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
