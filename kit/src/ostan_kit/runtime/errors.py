"""Errors that cross a service boundary: a gRPC status with ``google.rpc`` details.

Handlers raise ``ServiceError`` subclasses; ``rpc_method`` turns them into a status with details
(field violations for bad input), and ``describe`` reads them back on the calling side.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from ostan_kit.runtime.metrics import RpcTimer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ServiceError(Exception):
    code = grpc.StatusCode.INTERNAL

    def __init__(
        self,
        message: str,
        violations: list[FieldViolation] | None = None,
        *,
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.violations = violations or []
        # A machine-readable cause (google.rpc.ErrorInfo), e.g. STALE_VERSION.
        self.reason = reason
        self.metadata = metadata or {}


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT


def instant_field(request: Message, field: str) -> datetime | None:
    """The request's Timestamp ``field`` as a UTC datetime (None when unset), or InvalidArgument
    naming it: protobuf refuses seconds outside the years 1 to 9999."""
    if not request.HasField(field):
        return None
    try:
        return getattr(request, field).ToDatetime(UTC)
    except ValueError as error:
        raise InvalidArgument(f"bad {field}", [FieldViolation(field, str(error))]) from None


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class Conflict(ServiceError):
    """Someone changed the resource first (a stale version): read it again and retry."""

    code = grpc.StatusCode.ABORTED


class FailedPrecondition(ServiceError):
    """Not possible in the resource's present state (e.g. an action not allowed now)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


class OutOfRange(ServiceError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


def to_status(error: ServiceError) -> grpc.Status:
    status = status_pb2.Status(code=error.code.value[0], message=error.message)
    if error.violations:
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
        status.details.append(detail)
    if error.reason:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain="ostan", metadata=error.metadata))
        status.details.append(info)
    return rpc_status.to_status(status)


Handler = TypeVar("Handler", bound=Callable[..., Awaitable[Any]])


def rpc_method(handler: Handler) -> Handler:
    """Decorate a servicer method: it is counted and timed, a ServiceError becomes its status with
    details, and anything else INTERNAL. (Its span comes from the gRPC server instrumentation.)"""
    owner, _, name = handler.__qualname__.rpartition(".")
    method = f"{owner.removesuffix('Servicer')}Service/{name}"  # CaseServicer.StartCase: CaseService/StartCase

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        with RpcTimer(method) as call:
            try:
                return await handler(self, request, context)
            except ServiceError as error:
                call.code = error.code
                await context.abort_with_status(to_status(error))
            except grpc.aio.AbortError:
                call.code = context.code() if isinstance(context.code(), grpc.StatusCode) else grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                log.exception("unexpected error in %s", handler.__qualname__)
                call.code = grpc.StatusCode.INTERNAL
                await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service's log")

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class RemoteError:
    code: grpc.StatusCode
    message: str
    violations: list[FieldViolation]
    reason: str = ""
    metadata: dict[str, str] | None = None


def describe(error: grpc.aio.AioRpcError) -> RemoteError:
    """The code, message and field violations of a failed call."""
    violations: list[FieldViolation] = []
    reason, metadata = "", {}
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # malformed details: keep the code and message
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad_request = error_details_pb2.BadRequest()
                detail.Unpack(bad_request)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad_request.field_violations
                )
            elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
    return RemoteError(error.code(), error.details() or "", violations, reason, metadata)


__all__ = [
    "Conflict",
    "FailedPrecondition",
    "OutOfRange",
    "PermissionDenied",
    "Unauthenticated",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "RemoteError",
    "ServiceError",
    "Unavailable",
    "describe",
    "rpc_method",
    "to_status",
]
