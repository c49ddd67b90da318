"""Idempotent changes: a mutating call runs once under its caller's key, in the same transaction
that keeps its answer; a replay of the key by the same caller answers the first answer.

A key belongs to its caller: the same key sent by another caller is another caller's request and
is processed as their own (it never finds the first caller's answer). The engine authorises a
replay as it would the first call, before the answer is looked up.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ostan_kit.persistence.db import Database, stage
from ostan_kit.persistence.models import IdempotencyRow
from ostan_kit.runtime.errors import FieldViolation, InvalidArgument
from ostan_kit.security.actors import Actor

MAX_KEY_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

Change = Callable[[AsyncSession], Awaitable[tuple[Message, str]]]
# Raises if the caller may not have the answer now (a replay is authorised like a first call);
# it reads in the session of the call.
Authorise = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class Answer:
    """What a mutating call answers, and whether it is the replay of a first answer."""

    message: Message
    replayed: bool


def request_hash(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_of(actor: Actor) -> str:
    """Whose keys a key is among: the caller's kind and subject."""
    return f"{actor.kind}:{actor.subject}"


def check_key(key: str) -> str:
    """The key, or InvalidArgument: 1 to MAX_KEY_LENGTH characters, no control character (a key
    comes from a header or, on the web pages, from a form field, which can hold a NUL byte, and
    PostgreSQL refuses those in text)."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or _CONTROL.search(key):
        raise InvalidArgument(
            "an idempotency key is required",
            [FieldViolation("idempotency_key", f"required, 1 to {MAX_KEY_LENGTH} characters, none a control character")],
        )
    return key


# The first answer under a caller's key, built once (every mutating call asks it).
_ANSWER = select(IdempotencyRow.request_hash, IdempotencyRow.operation, IdempotencyRow.response).where(
    IdempotencyRow.caller == bindparam("caller"), IdempotencyRow.key == bindparam("key")
)


class Idempotency:
    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock

    async def replay(
        self, actor: Actor, key: str, operation: str, hashed: str, kind: type[Message], authorise: Authorise | None
    ) -> Answer | None:
        async with self.database.session() as session:
            return await self._replay(session, actor, key, operation, hashed, kind, authorise)

    @staticmethod
    async def _replay(
        session: AsyncSession,
        actor: Actor,
        key: str,
        operation: str,
        hashed: str,
        kind: type[Message],
        authorise: Authorise | None,
    ) -> Answer | None:
        row = (await session.execute(_ANSWER, {"caller": scope_of(actor), "key": key})).first()
        if row is None:
            return None
        if authorise is not None:
            await authorise(session)
        if row.request_hash != hashed or row.operation != operation:
            raise InvalidArgument(
                "the idempotency key was used for a different request",
                [FieldViolation("idempotency_key", "already used with another request")],
            )
        message = kind()
        message.ParseFromString(row.response or b"")
        return Answer(message, replayed=True)

    async def once(
        self,
        actor: Actor,
        key: str,
        operation: str,
        hashed: str,
        kind: type[Message],
        change: Change,
        authorise: Authorise | None = None,
    ) -> Answer:
        """Run ``change`` in one transaction that also keeps its answer under ``actor``'s ``key``;
        the key is looked up in that same transaction (one checkout), and a replay answers the
        first answer once ``authorise`` lets it."""
        key = check_key(key)

        async def once(session: AsyncSession) -> Answer:
            replay = await self._replay(session, actor, key, operation, hashed, kind, authorise)
            if replay is not None:
                return replay
            message, code = await change(session)
            stage(
                session,
                IdempotencyRow.__table__,
                dict(
                    caller=scope_of(actor),
                    key=key,
                    operation=operation,
                    request_hash=hashed,
                    case_code=code,
                    created_at=self.clock(),
                    response=message.SerializeToString(deterministic=True),
                ),
            )
            return Answer(message, replayed=False)

        for attempt in range(3):
            try:
                return await self.database.run(once)
            except IntegrityError:
                # The same key committed meanwhile (answered as its replay on the next try), or
                # two starts raced to open a new year's sequence (tried again).
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
