"""Request bodies are bounded before anything parses them: a JSON body by ``max_json_bytes``, a
document upload by the largest document plus its multipart envelope. A declared Content-Length
over the limit is refused at once; a chunked body as soon as it passes the limit. Either way the
answer is a 413 problem."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ostan_gateway.problems import Problem, problem_response

# What a multipart upload carries beside the document: boundaries, part headers, the kind.
MULTIPART_ENVELOPE_BYTES = 64 * 1024
UPLOAD_PATH = re.compile(r"/v1/cases/[^/]+/documents")


class BodyTooLarge(HTTPException):
    """An HTTPException so that FastAPI's body parsing passes it on unchanged, to be answered
    as a problem like any other."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body may be at most {limit} bytes", headers={"Connection": "close"})
        self.limit = limit


class BodyLimit:
    def __init__(self, app: ASGIApp, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit + MULTIPART_ENVELOPE_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if UPLOAD_PATH.fullmatch(scope["path"]) else self.json_limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(limit, scope, receive, send)
            return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, watched)
        except BodyTooLarge:
            if started:
                raise
            await _too_large(limit, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    problem = Problem(413, f"the request body may be at most {limit} bytes", slug="content-too-large", limit=limit)
    # The rest of the body is not read: the connection closes after the answer.
    response = problem_response(problem, scope["path"], {"Connection": "close"})
    await response(scope, receive, send)
