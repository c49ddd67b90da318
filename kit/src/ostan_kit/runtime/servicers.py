"""The gRPC services every office service serves: its catalogue, its cases and its inquiries,
and the guard that lets only callers the gateway vouched for reach anything but the catalogue
and health."""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Callable

import grpc
from google.protobuf import json_format

from ostan.common.v1 import (
    case_pb2,
    case_pb2_grpc,
    catalogue_pb2,
    catalogue_pb2_grpc,
    event_contracts_pb2,
    event_contracts_pb2_grpc,
    inquiry_pb2_grpc,
    issued_pb2,
    issued_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
    stats_pb2,
    stats_pb2_grpc,
)
from ostan_kit.cases import figures
from ostan_kit.cases.engine import Answer, CaseEngine
from ostan_kit.catalogue.entries import CatalogueEntry
from ostan_kit.inquiries.desk import InquiryDesk
from ostan_kit.messaging.agency_events import contracts
from ostan_kit.messaging.grants import EventGrants
from ostan_kit.processes.definitions import ProcessBook, ProcessDefinition
from ostan_kit.processes.schema import describe
from ostan_kit.runtime.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    instant_field,
    rpc_method,
    to_status,
)
from ostan_kit.security.actors import Actor
from ostan_kit.security.assertions import AssertionVerifier, InvalidAssertion


def entry_message(entry: CatalogueEntry, runs_as: str, process: str, why_record: str = "") -> catalogue_pb2.CatalogueEntry:
    detail = entry.model_dump(mode="json")
    detail.update(runs_as=runs_as, process=process)
    if why_record:
        detail["why_record"] = why_record
    return catalogue_pb2.CatalogueEntry(
        slug=entry.slug,
        service_id=entry.service_id,
        title_fa=entry.title_fa,
        title_en=entry.title_en,
        kind=entry.kind,
        deputy=entry.deputy,
        office=entry.office,
        hosting_service=entry.hosting_service,
        detail_json=json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
        runs_as=runs_as,
        process=process,
    )


MAX_PAGE_SIZE = 100


class CatalogueServicer(catalogue_pb2_grpc.CatalogueServiceServicer):
    def __init__(self, service: str, entries: list[CatalogueEntry], engine: CaseEngine) -> None:
        self.service = service
        self.entries = entries
        self.messages = [entry_message(entry, *engine.runs_as(entry), engine.why_record(entry)) for entry in entries]
        digest = hashlib.sha256()
        for message in self.messages:
            digest.update(message.detail_json.encode())
        self.version = digest.hexdigest()[:16]

    @rpc_method
    async def ListEntries(self, request, context):  # noqa: N802 — gRPC method name
        size = request.page_size or MAX_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument("bad page size", [FieldViolation("page_size", f"1 to {MAX_PAGE_SIZE}")])
        start = _page_offset(request.page_token, self.version)
        matching = [
            message
            for entry, message in zip(self.entries, self.messages, strict=True)
            if (not request.deputy or entry.deputy == request.deputy)
            and (not request.office or entry.office == request.office)
            and (not request.kind or entry.kind == request.kind)
        ]
        end = start + size
        return catalogue_pb2.ListEntriesResponse(
            service=self.service,
            entries=matching[start:end],
            next_page_token=f"{self.version}:{end}" if end < len(matching) else "",
            catalogue_version=self.version,
        )

    @rpc_method
    async def GetEntry(self, request, context):  # noqa: N802
        wanted = request.id_or_slug.strip()
        for entry, message in zip(self.entries, self.messages, strict=True):
            if wanted in (entry.slug, entry.service_id):
                return catalogue_pb2.GetEntryResponse(entry=message)
        raise NotFound(f"no catalogue entry {wanted!r} in the {self.service} service")


def _page_offset(token: str, version: str) -> int:
    """The offset a page token carries; a token of another catalogue version is refused."""
    if not token:
        return 0
    token_version, _, offset = token.partition(":")
    if token_version != version or not offset.isdigit():
        raise InvalidArgument(
            "the page token is not from this catalogue", [FieldViolation("page_token", "start again")]
        )
    return int(offset)


class CaseServicer(case_pb2_grpc.CaseServiceServicer):
    def __init__(self, engine: CaseEngine, on_commit: Callable[[], None]) -> None:
        self.engine = engine
        self.on_commit = on_commit

    def _committed(self, answer: Answer) -> Answer:
        if not answer.replayed:
            self.on_commit()
        return answer

    @rpc_method
    async def StartCase(self, request, context):  # noqa: N802
        data = json_format.MessageToDict(request.data)
        answer = self._committed(
            await self.engine.start(actor_of(context), request.process, data, request.idempotency_key)
        )
        return case_pb2.StartCaseResponse(case=answer.message, replayed=answer.replayed)

    @rpc_method
    async def GetCase(self, request, context):  # noqa: N802
        return case_pb2.GetCaseResponse(case=await self.engine.get(actor_of(context), request.code))

    @rpc_method
    async def ListCases(self, request, context):  # noqa: N802
        cases, token = await self.engine.list(actor_of(context), request)
        return case_pb2.ListCasesResponse(cases=cases, next_page_token=token)

    @rpc_method
    async def Act(self, request, context):  # noqa: N802
        answer = self._committed(
            await self.engine.act(
                actor_of(context),
                request.code,
                request.action,
                request.expected_version,
                request.comment,
                json_format.MessageToDict(request.data),
                request.idempotency_key,
            )
        )
        return case_pb2.ActResponse(case=answer.message, replayed=answer.replayed)

    @rpc_method
    async def AttachDocument(self, request, context):  # noqa: N802
        answer = self._committed(
            await self.engine.attach(
                actor_of(context),
                request.code,
                request.kind,
                request.filename,
                request.content_type,
                request.content,
                request.idempotency_key,
            )
        )
        response = case_pb2.AttachDocumentResponse()
        response.CopyFrom(answer.message)
        response.replayed = answer.replayed
        return response

    @rpc_method
    async def GetHistory(self, request, context):  # noqa: N802
        return case_pb2.GetHistoryResponse(entries=await self.engine.history(actor_of(context), request.code))

    @rpc_method
    async def GetDocument(self, request, context):  # noqa: N802
        document, content = await self.engine.document(actor_of(context), request.code, request.sha256)
        return case_pb2.GetDocumentResponse(document=document, content=content)

    @rpc_method
    async def ListAllowedActions(self, request, context):  # noqa: N802
        actions = await self.engine.allowed_actions(actor_of(context), request.code)
        return case_pb2.ListAllowedActionsResponse(actions=actions)


class IssuedDocumentServicer(issued_pb2_grpc.IssuedDocumentServiceServicer):
    def __init__(self, engine: CaseEngine, on_commit: Callable[[], None]) -> None:
        self.engine = engine
        self.on_commit = on_commit

    @rpc_method
    async def GetIssued(self, request, context):  # noqa: N802
        return await self.engine.issued(actor_of(context), request.code)

    @rpc_method
    async def RevokeIssued(self, request, context):  # noqa: N802
        answer = await self.engine.revoke(actor_of(context), request.code, request.reason, request.idempotency_key)
        if not answer.replayed:
            self.on_commit()
        response = issued_pb2.RevokeIssuedResponse()
        response.CopyFrom(answer.message)
        response.replayed = answer.replayed
        return response


class VerificationServicer(issued_pb2_grpc.VerificationServiceServicer):
    """Public: whether an issued document is the service's and current."""

    def __init__(self, engine: CaseEngine) -> None:
        self.engine = engine

    @rpc_method
    async def Verify(self, request, context):  # noqa: N802
        return await self.engine.verify(request.code)


class ProcessServicer(process_pb2_grpc.ProcessServiceServicer):
    """Every process the service runs, described for a frontend; public, like the catalogue."""

    def __init__(self, service: str, book: ProcessBook) -> None:
        self.service = service
        self.descriptions = {
            definition.slug: process_message(definition, service) for definition in book.latest.values()
        }

    @rpc_method
    async def ListProcesses(self, request, context):  # noqa: N802
        return process_pb2.ListProcessesResponse(service=self.service, processes=list(self.descriptions.values()))

    @rpc_method
    async def GetProcess(self, request, context):  # noqa: N802
        description = self.descriptions.get(request.slug.strip())
        if description is None:
            raise NotFound(f"the {self.service} service runs no process {request.slug!r}")
        return process_pb2.GetProcessResponse(process=description)


def process_message(definition: ProcessDefinition, service: str) -> process_pb2.ProcessDescription:
    return process_pb2.ProcessDescription(
        slug=definition.slug,
        version=definition.version,
        title_fa=definition.title_fa,
        title_en=definition.title_en,
        catalogue=list(definition.catalogue),
        detail_json=json.dumps(describe(definition, service), ensure_ascii=False, separators=(",", ":")),
    )


class InquiryServicer(inquiry_pb2_grpc.InquiryServiceServicer):
    def __init__(self, desk: InquiryDesk) -> None:
        self.desk = desk

    @rpc_method
    async def ListInquiryTypes(self, request, context):  # noqa: N802
        return self.desk.listing

    @rpc_method
    async def AskInquiry(self, request, context):  # noqa: N802
        return await self.desk.ask(actor_of(context), request)


class CaseStatsServicer(stats_pb2_grpc.CaseStatsServiceServicer):
    def __init__(self, engine: CaseEngine) -> None:
        self.engine = engine

    @rpc_method
    async def GetCaseStats(self, request, context):  # noqa: N802
        offices = figures.visible_offices(actor_of(context), sorted(self.engine.offices), request.office)
        started_from, started_to = instant_field(request, "started_from"), instant_field(request, "started_to")
        return stats_pb2.GetCaseStatsResponse(
            service=self.engine.service,
            processes=await figures.case_stats(self.engine.database, offices, started_from, started_to),
        )


_CALLER: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("ostan_caller", default=None)


def actor_of(context: grpc.aio.ServicerContext) -> Actor:
    """The caller of this call, as the gateway's assertion names it (verified by
    ``CallerInterceptor`` before the handler ran); Unauthenticated when there is none."""
    actor = _CALLER.get()
    if actor is None:
        raise Unauthenticated("this call carries no verified caller; call through the gateway", reason="NO_CALLER")
    return actor


# Public data and probes: callable without a caller assertion.
OPEN_SERVICES = frozenset(
    {
        catalogue_pb2.DESCRIPTOR.services_by_name["CatalogueService"].full_name,
        process_pb2.DESCRIPTOR.services_by_name["ProcessService"].full_name,
        issued_pb2.DESCRIPTOR.services_by_name["VerificationService"].full_name,
        event_contracts_pb2.DESCRIPTOR.services_by_name["EventContractService"].full_name,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


# Public methods of otherwise guarded services: the inquiry types and their grants are published
# data (X-Road's listMethods); asking one is not.
OPEN_METHODS = frozenset({"/ostan.common.v1.InquiryService/ListInquiryTypes"})


class CallerInterceptor(grpc.aio.ServerInterceptor):
    """Every method outside ``open_services`` runs only for a caller the gateway vouched for:
    the call's assertion is verified first and the caller is what ``actor_of`` returns; a call
    without a valid one is refused UNAUTHENTICATED (with an ErrorInfo reason) and never reaches
    the handler. Services added later are closed by default."""

    def __init__(self, verifier: AssertionVerifier | None, open_services: frozenset[str] = OPEN_SERVICES) -> None:
        self.verifier = verifier
        self.open_services = open_services

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        service = handler_call_details.method.lstrip("/").rpartition("/")[0]
        if handler is None or service in self.open_services or handler_call_details.method in OPEN_METHODS:
            return handler
        metadata = tuple(handler_call_details.invocation_metadata or ())
        return _guarded(handler, lambda: self._caller(metadata))

    def _caller(self, metadata: tuple) -> Actor:
        if self.verifier is None:
            raise Unauthenticated(
                "this service has no gateway public key configured, so it believes no caller",
                reason="NO_GATEWAY_KEY",
            )
        try:
            return self.verifier.actor_from(metadata)
        except InvalidAssertion as error:
            raise Unauthenticated(str(error), reason="INVALID_CALLER_ASSERTION") from None


def _guarded(handler: grpc.RpcMethodHandler, caller: Callable[[], Actor]) -> grpc.RpcMethodHandler:
    async def enter(context: grpc.aio.ServicerContext) -> contextvars.Token:
        try:
            return _CALLER.set(caller())
        except Unauthenticated as error:
            await context.abort_with_status(to_status(error))
            raise  # abort_with_status raises; this is for the type checker

    def unary(behavior):
        async def run(request_or_iterator, context):
            token = await enter(context)
            try:
                return await behavior(request_or_iterator, context)
            finally:
                _CALLER.reset(token)

        return run

    def streaming(behavior):
        async def run(request_or_iterator, context):
            token = await enter(context)
            try:
                async for response in behavior(request_or_iterator, context):
                    yield response
            finally:
                _CALLER.reset(token)

        return run

    codecs = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), **codecs)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), **codecs)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), **codecs)
    return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), **codecs)


class EventContractServicer(event_contracts_pb2_grpc.EventContractServiceServicer):
    """The service's agency event contracts: public (they are published as AsyncAPI), so any caller."""

    def __init__(self, grants: EventGrants, book: ProcessBook) -> None:
        self.response = event_contracts_pb2.ListAgencyEventContractsResponse(
            contracts=[
                event_contracts_pb2.AgencyEventContract(
                    **{key: value for key, value in contract.items() if key != "schema"},
                    schema_json=json.dumps(contract["schema"], ensure_ascii=False, sort_keys=True),
                )
                for contract in contracts(grants, book)
            ]
        )

    @rpc_method
    async def ListAgencyEventContracts(self, request, context):  # noqa: N802 — gRPC method name
        return self.response
