"""Several worker processes of one service on one port.

The supervisor migrates once, then starts each worker as a fresh interpreter (``python -m`` the
service), never a fork: gRPC's core, started by importing grpc, does not survive a fork, and an
event loop belongs to its process. Every worker serves the same port with SO_REUSEPORT, so the
kernel shares the connections out among them; the outbox relay and the SLA timers stay correct
with several (row claims with SKIP LOCKED on PostgreSQL, a lock file per database on SQLite).
SIGTERM or SIGINT to the supervisor reaches every worker; a worker that dies on its own takes
the others down with it, so that whatever supervises the service (Kubernetes, the devstack)
sees it and restarts the whole.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ostan_kit.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_supervisor() -> None:
    """In the child before exec: the kernel sends SIGTERM if the supervisor dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_workers(count: int, package: str, env_prefix: str, settings: ServiceSettings) -> int:
    """Run ``count`` workers of the service ``package`` until told to stop; the exit status.
    The first worker serves the metrics port (each process counts its own: the others' would
    need ports of their own, which nothing scrapes yet)."""
    environment = {
        **os.environ,
        env_prefix + "WORKERS": "1",
        env_prefix + "SHARES_PORT": "true",
        env_prefix + "MIGRATE_ON_START": "false",
    }
    workers: list[subprocess.Popen] = []
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    for index in range(count):
        metrics = {env_prefix + "METRICS_PORT": str(settings.metrics_port if index == 0 else 0)}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", package, "serve"], env={**environment, **metrics}, preexec_fn=_die_with_supervisor
            )
        )
    log.info("workers started", extra={"workers": count, "pids": [worker.pid for worker in workers]})
    failed = False
    while any(worker.poll() is None for worker in workers):
        ended = [worker for worker in workers if worker.returncode is not None]
        if ended and not stopping:
            log.error("a worker exited; stopping the others", extra={"pid": ended[0].pid, "code": ended[0].returncode})
            failed = True
            forward(signal.SIGTERM, None)
        time.sleep(0.1)
    if any(worker.returncode not in (0, -signal.SIGTERM) for worker in workers):
        failed = True
    return 1 if failed else 0
