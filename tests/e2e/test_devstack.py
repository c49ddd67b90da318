"""The local stack runner: a part restarted from a worker thread outlives that thread (Linux ties
PR_SET_PDEATHSIG to the thread that spawned the child, not the process)."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from ostan_devstack.stack import NATS, Stack, StackConfig

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
