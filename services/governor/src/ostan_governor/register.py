"""The province-wide register of SLA breaches and escalations (the governor's office supervises
the offices, seed 004): one durable consumer per office stream records every breach its events
report, and ``SlaRegisterService`` lists them for supervising staff."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import grpc
from sqlalchemy import DateTime, Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ostan.governor.v1 import register_pb2, register_pb2_grpc
from ostan_kit.catalogue.entries import load_organisation
from ostan_kit.messaging.consumer import Consumer, Event, Handler, Rejected
from ostan_kit.messaging.natsauth import DEAD_LETTER_STREAM, service_dead_letter_subject
from ostan_kit.persistence.db import Database
from ostan_kit.runtime.errors import FieldViolation, InvalidArgument, PermissionDenied, rpc_method
from ostan_kit.runtime.registry import SERVICES
from ostan_kit.runtime.servicers import actor_of
from ostan_kit.text.persian import to_jalali

BREACHES = ("sla-breached", "process-sla-breached")
SUPERVISING_ROLE = "supervisor"
MAX_PAGE_SIZE = 100


class RegisterBase(DeclarativeBase):
    pass


class SlaBreachRow(RegisterBase):
    __tablename__ = "sla_breaches"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    case_code: Mapped[str] = mapped_column(String(32))
    process: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(64))
    escalated_to: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    breached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sla_breaches_service", "service", "breached_at"),
        Index("ix_sla_breaches_breached_at", "breached_at"),
    )


metadata = RegisterBase.metadata


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise Rejected(f"{name} is missing")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise Rejected(f"{name} is not a time: {value!r}") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def breach_of(event: Event) -> SlaBreachRow:
    """The register row a breach event reports, or Rejected saying what the event lacks."""
    data = event.data
    if not isinstance(data, dict):
        raise Rejected("the event's data is not an object")
    missing = [name for name in ("case_code", "service", "process", "event", "occurred_at") if not data.get(name)]
    if missing:
        raise Rejected(f"the event's data has no {', '.join(missing)}")
    if data["event"] not in BREACHES:
        raise Rejected(f"{data['event']!r} is not a breach")
    if data["service"] not in SERVICES or not event.type.startswith(f"ostan.{data['service']}."):
        raise Rejected(f"the event's service {data['service']!r} does not match its type {event.type!r}")
    detail = data.get("data") or {}
    return SlaBreachRow(
        event_id=event.id,
        service=data["service"],
        case_code=str(data["case_code"])[:32],
        process=str(data["process"])[:100],
        kind=data["event"],
        state=str(data.get("to_state", ""))[:64],
        escalated_to=str(detail.get("escalated_to", ""))[:64],
        due_at=_time(detail["due_at"], "due_at") if detail.get("due_at") else None,
        breached_at=_time(data["occurred_at"], "occurred_at"),
    )


async def record_breach(session: AsyncSession, event: Event) -> None:
    session.add(breach_of(event))


class BreachHandlers(dict):
    """Handlers by CloudEvents type: every ``ostan.<service>.<process>.<breach>`` of one service."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.prefix = f"ostan.{service}."

    def __contains__(self, event_type: object) -> bool:
        return (
            isinstance(event_type, str)
            and event_type.startswith(self.prefix)
            and event_type.rsplit(".", 1)[-1] in BREACHES
        )

    def __getitem__(self, event_type: str) -> Handler:
        if event_type not in self:
            raise KeyError(event_type)
        return record_breach


def register_consumers(database: Database, max_deliver: int) -> list[Consumer]:
    """One durable consumer per office stream, reading only its breach subjects."""
    return [
        Consumer(
            database=database,
            stream=info.stream,
            durable=f"sla-register-{name}",
            filter_subjects=[f"ostan.{name}.*.{breach}" for breach in BREACHES],
            handlers=BreachHandlers(name),
            dead_letter_stream=DEAD_LETTER_STREAM,
            dead_letter_subject=service_dead_letter_subject("governor", f"sla-register-{name}"),
            max_deliver=max_deliver,
        )
        for name, info in SERVICES.items()
    ]


def _page(token: str) -> int:
    if not token:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError as error:
        raise InvalidArgument("bad page token", [FieldViolation("page_token", "not a token of this list")]) from error
    if offset < 0:
        raise InvalidArgument("bad page token", [FieldViolation("page_token", "not a token of this list")])
    return offset


class SlaRegisterServicer(register_pb2_grpc.SlaRegisterServiceServicer):
    def __init__(self, database: Database) -> None:
        self.database = database
        organisation = load_organisation()
        self.service_of_office = {office.slug: office.hosting_service for office in organisation.offices}

    @rpc_method
    async def ListSlaBreaches(self, request, context):  # noqa: N802 — gRPC method name
        actor = actor_of(context)
        if actor.kind != "staff" or SUPERVISING_ROLE not in actor.roles:
            raise PermissionDenied(f"the register is for staff with the {SUPERVISING_ROLE!r} role")
        service = request.service
        if service and service not in SERVICES:
            raise InvalidArgument("unknown service", [FieldViolation("service", f"one of {', '.join(SERVICES)}")])
        own = self.service_of_office.get(actor.office)
        if own != "governor":
            # A supervisor of another office sees the breaches of the service that hosts it.
            if service and service != own:
                raise PermissionDenied("a supervisor outside the governor's office sees only their own service")
            service = own or ""
        size = request.page_size or MAX_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument("bad page size", [FieldViolation("page_size", f"1 to {MAX_PAGE_SIZE}")])
        offset = _page(request.page_token)
        query = select(SlaBreachRow).order_by(SlaBreachRow.breached_at.desc(), SlaBreachRow.event_id)
        if service:
            query = query.where(SlaBreachRow.service == service)
        if request.escalated_to:
            query = query.where(SlaBreachRow.escalated_to == request.escalated_to)
        async with self.database.session() as session:
            rows = list(await session.scalars(query.offset(offset).limit(size + 1)))
        response = register_pb2.ListSlaBreachesResponse(breaches=[_message(row) for row in rows[:size]])
        if len(rows) > size:
            response.next_page_token = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return response


def _message(row: SlaBreachRow) -> register_pb2.SlaBreach:
    breached_at = row.breached_at if row.breached_at.tzinfo else row.breached_at.replace(tzinfo=UTC)
    message = register_pb2.SlaBreach(
        event_id=row.event_id,
        service=row.service,
        case_code=row.case_code,
        process=row.process,
        kind=row.kind,
        state=row.state,
        escalated_to=row.escalated_to,
        breached_at_jalali=to_jalali(breached_at),
    )
    message.breached_at.FromDatetime(breached_at)
    if row.due_at is not None:
        message.due_at.FromDatetime(row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=UTC))
    return message


class SlaRegister:
    """The governor service's extension of the chassis: the register's consumers and its gRPC service."""

    service_names = (register_pb2.DESCRIPTOR.services_by_name["SlaRegisterService"].full_name,)

    def __init__(self, office_service: Any) -> None:
        self.database = office_service.database
        self.consumers = register_consumers(self.database, office_service.settings.consumer_max_deliver)

    def register(self, server: grpc.aio.Server) -> None:
        register_pb2_grpc.add_SlaRegisterServiceServicer_to_server(SlaRegisterServicer(self.database), server)
