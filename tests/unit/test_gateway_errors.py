"""The gateway's last-resort answer: an error no handler knows is a 500 problem, and the client's
kept-alive connection goes on working (the gateway on a real socket, no office service behind)."""

from __future__ import annotations

import json
import socket
import threading
import time

import uvicorn

from ostan_devstack.stack import free_port
from ostan_gateway.app import create_app
from ostan_gateway.settings import GatewaySettings


def read_answer(reader) -> tuple[int, dict[str, str], bytes]:
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", "0")))


def test_an_unexpected_error_is_a_500_problem_and_the_connection_stays_open(tmp_path):
    app = create_app(GatewaySettings(services={}, local_keys_dir=tmp_path))

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            reader = sock.makefile("rb")
            sock.sendall(b"GET /boom HTTP/1.1\r\nHost: gateway\r\n\r\n")
            status, headers, body = read_answer(reader)
            assert status == 500 and headers["content-type"] == "application/problem+json"
            assert "a bug" not in body.decode() and json.loads(body)["status"] == 500
            assert headers.get("connection", "") != "close"
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            status, _, body = read_answer(reader)
            assert status == 200 and json.loads(body) == {"status": "ok"}
    finally:
        server.should_exit = True
        thread.join(10)


def test_grpcs_own_size_refusal_is_a_413_without_its_words():
    import grpc

    from ostan_gateway.problems import from_remote
    from ostan_kit.runtime.errors import RemoteError

    too_large = RemoteError(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (5000123 vs. 4194304)", [])
    problem = from_remote("urban", too_large)
    assert problem.status == 413 and "larger than max" not in problem.detail and "4194304" not in problem.detail
    busy = from_remote("urban", RemoteError(grpc.StatusCode.RESOURCE_EXHAUSTED, "quota: 17 in flight", []))
    assert busy.status == 429 and "quota" not in busy.detail
