"""The real platform for end-to-end tests: nats-server, the seven services and the gateway, as
separate processes on free ports, with PostgreSQL databases when OSTAN_TEST_DATABASE_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator

import httpx
import nats
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ostan_devstack.stack import Stack, StackConfig
from ostan_gateway.auth import SECRET_ENV, issue_token
from ostan_kit.messaging.bus import connect_options
from ostan_kit.messaging.natsauth import Identity
from ostan_kit.runtime.registry import SERVICES
from tests.conftest import POSTGRES, postgres_databases
from tests.forms import RESIDENCE_FORM

# The local issuer's secret of the test platform's gateway (a fresh one per run).
TOKEN_SECRET = secrets.token_urlsafe(32)

FAST_TIMERS = {
    SECRET_ENV: TOKEN_SECRET,
    "OSTAN_GATEWAY_CATALOGUE_TTL_SECONDS": "0.3",
    "OSTAN_GATEWAY_INQUIRY_TYPES_TTL_SECONDS": "0.3",
    "OSTAN_GATEWAY_INQUIRY_RATE_PER_MINUTE": "30",
    **{info.env_prefix + "HEALTH_INTERVAL_SECONDS": "0.2" for info in SERVICES.values()},
    **{info.env_prefix + "OUTBOX_POLL_SECONDS": "0.2" for info in SERVICES.values()},
    **{info.env_prefix + "SHUTDOWN_GRACE_SECONDS": "5" for info in SERVICES.values()},
}

STREAM = SERVICES["foreign-nationals"].stream
SUBJECT = "ostan.foreign-nationals.residence-document-extension.submitted"


# The tests' own bus identity: reads any stream's messages directly (as an operator would).
INSPECTOR = Identity("test-inspector", ("$JS.API.>",), description="the tests, reading streams")


def nats_options(stack: Stack, identity: str) -> dict:
    """``nats.connect`` keyword arguments to connect as ``identity`` to ``stack``'s bus."""
    return connect_options(identity, stack.config.seed_file(identity))


@contextlib.contextmanager
def running_stack(
    tmp_path_factory: pytest.TempPathFactory,
    environment: dict[str, str] | None = None,
    identities: tuple[Identity, ...] = (),
) -> Iterator[Stack]:
    with contextlib.ExitStack() as cleanup:
        urls = cleanup.enter_context(postgres_databases(list(SERVICES))) if POSTGRES else {}
        config = StackConfig.on_free_ports(
            tmp_path_factory.mktemp("platform"),
            database_urls=urls,
            environment={**FAST_TIMERS, **(environment or {})},
            nats_identities=[INSPECTOR, *identities],
        )
        stack = Stack(config)
        stack.start()
        cleanup.callback(stack.stop)
        yield stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The platform the well-behaved tests share; tests that break things start their own."""
    with running_stack(tmp_path_factory) as running:
        yield running


def bearer(kind: str = "staff", **claims: object) -> dict[str, str]:
    """An Authorization header for a caller, signed with the test gateway's secret."""
    defaults: dict[str, object] = {
        "staff": {"subject": "clerk-1", "name": "سارا احمدی", "roles": ["clerk"], "office": "foreign-nationals"},
        "citizen": {"subject": "0084575948", "name": "زهرا کریمی", "roles": ["applicant"]},
        "agency": {"subject": "police-system", "name": "police", "roles": ["inquirer"], "agency": "police"},
    }[kind]
    token = issue_token(TOKEN_SECRET, kind=kind, **{**defaults, **claims})  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


CLERK = bearer()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    """A client of the gateway, calling as a clerk of the foreign nationals office."""
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30, headers=CLERK) as client:
        yield client


def start_case(client: httpx.Client, key: str, data: dict | None = None, **extra: object) -> httpx.Response:
    body = {"service": "foreign-nationals", "process": "residence-document-extension"}
    body["data"] = RESIDENCE_FORM if data is None else data
    return client.post("/v1/cases", json=body, headers={"Idempotency-Key": key, **extra})


def act(client: httpx.Client, case: dict, action: str, headers: dict, **data: object) -> dict:
    """``action`` on ``case`` at the version it has, by the caller of ``headers``; the case after it."""
    answer = client.post(
        f"/v1/cases/{case['code']}/actions/{action}",
        json={"version": case["version"], "data": data},
        headers={"Idempotency-Key": f"{case['code']}-{action}-{case['version']}", **headers},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()



def attach(client: httpx.Client, case: dict, headers: dict, *kinds: str) -> dict:
    """A small PDF of each of ``kinds`` attached to ``case`` by the caller of ``headers``; the case after."""
    for kind in kinds:
        attached = client.post(
            f"/v1/cases/{case['code']}/documents", data={"kind": kind},
            files={"file": (f"{kind}.pdf", b"%PDF-1.4 a scanned document", "application/pdf")},
            headers={"Idempotency-Key": f"{case['code']}-{kind}", **headers},
        )
        assert attached.status_code == 201, attached.text
        case = attached.json()
    return case


def stream_messages(stack: Stack, stream: str) -> list:
    """Every message in ``stream``, read straight from JetStream."""

    async def read() -> list:
        connection = await nats.connect(
            stack.config.nats_url, connect_timeout=2, max_reconnect_attempts=0, **nats_options(stack, INSPECTOR.name)
        )
        try:
            js = connection.jetstream()
            state = (await js.stream_info(stream)).state
            if state.messages == 0:
                return []
            return [await js.get_msg(stream, seq) for seq in range(state.first_seq, state.last_seq + 1)]
        finally:
            await connection.close()

    return asyncio.run(read())


def count_rows(stack: Stack, service: str, table: str, where: str = "") -> int:
    parsed = make_url(stack.database_url(service))
    driver = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql+psycopg"
    engine = create_engine(parsed.set(drivername=driver))
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
    finally:
        engine.dispose()


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s")


def all_pages(client: httpx.Client, path: str, **params: object) -> list[dict]:
    """Every item of a paginated listing, following ``next_cursor``."""
    items: list[dict] = []
    cursor = None
    while True:
        answer = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items
