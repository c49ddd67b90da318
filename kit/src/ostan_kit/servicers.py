"""The gRPC services every office service serves: its catalogue and its cases."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import grpc
from google.protobuf import json_format

from ostan.common.v1 import case_pb2, case_pb2_grpc, catalogue_pb2, catalogue_pb2_grpc
from ostan_kit.cases import CaseEngine
from ostan_kit.catalogue import CatalogueEntry
from ostan_kit.errors import FieldViolation, InvalidArgument, NotFound, rpc_method
from ostan_kit.models import CaseRow


def entry_message(entry: CatalogueEntry) -> catalogue_pb2.CatalogueEntry:
    return catalogue_pb2.CatalogueEntry(
        slug=entry.slug,
        service_id=entry.service_id,
        title_fa=entry.title_fa,
        title_en=entry.title_en,
        kind=entry.kind,
        deputy=entry.deputy,
        office=entry.office,
        hosting_service=entry.hosting_service,
        detail_json=entry.model_dump_json(),
    )


MAX_PAGE_SIZE = 100


class CatalogueServicer(catalogue_pb2_grpc.CatalogueServiceServicer):
    def __init__(self, service: str, entries: list[CatalogueEntry]) -> None:
        self.service = service
        self.entries = entries
        self.messages = [entry_message(entry) for entry in entries]
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


def case_message(service: str, row: CaseRow) -> case_pb2.Case:
    message = case_pb2.Case(
        code=row.code,
        service=service,
        process=row.process,
        process_version=row.process_version,
        state=row.state,
        version=row.version,
    )
    message.data.update(row.data)
    message.created_at.FromDatetime(row.created_at)
    message.updated_at.FromDatetime(row.updated_at)
    return message


class CaseServicer(case_pb2_grpc.CaseServiceServicer):
    def __init__(self, engine: CaseEngine, on_commit: Callable[[], None]) -> None:
        self.engine = engine
        self.on_commit = on_commit

    @rpc_method
    async def StartCase(self, request, context: grpc.aio.ServicerContext):  # noqa: N802
        data = json_format.MessageToDict(request.data)
        result = await self.engine.start(request.process, data, request.idempotency_key)
        if not result.replayed:
            self.on_commit()
        return case_pb2.StartCaseResponse(
            case=case_message(self.engine.service, result.case), replayed=result.replayed
        )

    @rpc_method
    async def GetCase(self, request, context):  # noqa: N802
        row = await self.engine.get(request.code)
        return case_pb2.GetCaseResponse(case=case_message(self.engine.service, row))
