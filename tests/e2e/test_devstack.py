"""The local stack runner: a part restarted from a worker thread outlives that thread (Linux ties
PR_SET_PDEATHSIG to the thread that spawned the child, not the process); the ports it hands out
never collide; a part whose port is taken says so and exits, having stopped what it started."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from ostan_devstack.stack import NATS, Stack, StackConfig, free_port

pytestmark = pytest.mark.e2e


def test_nats_restarted_from_a_worker_thread_survives_the_threads_end(tmp_path):
    stack = Stack(StackConfig.on_free_ports(tmp_path))
    try:
        stack.start_nats()
        stack.stop_process(NATS)

        async def restart() -> None:
            await asyncio.to_thread(stack.start_nats)

        # asyncio.run shuts its default executor down: the thread that ran start_nats has ended.
        asyncio.run(restart())
        time.sleep(1.0)
        assert stack.exited() == {}, stack.exited()
        with socket.create_connection(("127.0.0.1", stack.config.nats_port), timeout=2) as sock:
            assert sock.recv(4096).startswith(b"INFO ")
    finally:
        stack.stop()


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    """Ports from the ephemeral range may be taken by any outgoing connection before the part
    binds them; the kernel may also give one port twice in a row."""
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    if ephemeral_start > 21000:  # else no room below it: the kernel chooses (distinct all the same)
        assert all(1024 < port < ephemeral_start for port in ports)
    for port in ports[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_service_whose_metrics_port_is_taken_exits_saying_which(tmp_path):
    stack = Stack(StackConfig.on_free_ports(tmp_path))
    name = "political"
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", stack.config.metrics_ports[name]))
        taken.listen()
        try:
            stack.start_nats()
            stack.start_service(name)
            process = stack.processes[name]
            assert process.wait(timeout=60) == 1
        finally:
            stack.stop()
    log = (stack.logs / f"{name}.log").read_text()
    assert f"cannot serve metrics on 127.0.0.1:{stack.config.metrics_ports[name]}" in log
    assert "was never awaited" not in log and "Event loop is closed" not in log
