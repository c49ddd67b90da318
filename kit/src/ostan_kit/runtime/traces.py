"""The traces of a local run: each process appends its spans to ``<dir>/<process>.jsonl`` as OTLP
JSON (one ``ExportTraceServiceRequest`` a line, the encoding of the OTLP/HTTP JSON protocol and
of the Collector's file exporter), and this command prints one trace as a waterfall:

    python -m ostan_kit.runtime.traces show <trace_id> [--dir .ostan/traces]
    python -m ostan_kit.runtime.traces list [--dir .ostan/traces] [--last 20]
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

KINDS = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "", 1: "ok", 2: "ERROR"}

# The OTLP JSON encoding, written straight from the SDK's spans: going through the protobuf
# messages and their generic JSON mapping cost a sixth of a busy service's CPU. It writes what
# ``encode_spans`` and protobuf's JSON mapping write (the test compares the two), with trace and
# span ids in hex as OTLP JSON has them: proto3 defaults are left out, 64-bit integers are
# strings, enums are numbers.
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def _json_value(value: Any) -> dict[str, Any]:
    if type(value) is str:  # most attributes
        return {"stringValue": value}
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, Mapping):
        return {"kvlistValue": _nonempty(values=[{"key": str(k), "value": _json_value(v)} for k, v in value.items()])}
    if isinstance(value, Sequence):
        return {"arrayValue": _nonempty(values=[_json_value(item) for item in value])}
    raise TypeError(f"an attribute cannot be {type(value).__name__}")


def _json_attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": _json_value(value)} for key, value in (attributes or {}).items()]


def _nonempty(**members: Any) -> dict[str, Any]:
    """The members that are not a proto3 default (zero, empty, None)."""
    return {key: value for key, value in members.items() if value}


def _flags(context: Any) -> int:
    return _HAS_IS_REMOTE | (_IS_REMOTE if context is not None and context.is_remote else 0)


def _json_span(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    status = span.status
    return _nonempty(
        traceId=format(context.trace_id, "032x"),
        spanId=format(context.span_id, "016x"),
        traceState=",".join(f"{key}={value}" for key, value in context.trace_state.items())
        if context.trace_state is not None
        else "",
        parentSpanId=format(span.parent.span_id, "016x") if span.parent else "",
        name=span.name,
        kind=span.kind.value + 1,  # OTLP counts from UNSPECIFIED = 0
        startTimeUnixNano=str(span.start_time) if span.start_time else "",
        endTimeUnixNano=str(span.end_time) if span.end_time else "",
        attributes=_json_attributes(span.attributes),
        droppedAttributesCount=span.dropped_attributes,
        events=[
            _nonempty(
                timeUnixNano=str(event.timestamp) if event.timestamp else "",
                name=event.name,
                attributes=_json_attributes(event.attributes),
                droppedAttributesCount=event.dropped_attributes,
            )
            for event in span.events
        ],
        droppedEventsCount=span.dropped_events,
        links=[
            _nonempty(
                traceId=format(link.context.trace_id, "032x"),
                spanId=format(link.context.span_id, "016x"),
                attributes=_json_attributes(link.attributes),
                droppedAttributesCount=link.dropped_attributes,
                flags=_flags(link.context),
            )
            for link in span.links
        ],
        droppedLinksCount=span.dropped_links,
        flags=_flags(span.parent),
    ) | ({"status": _nonempty(message=status.description or "", code=status.status_code.value)} if status else {})


def otlp_json(spans: Sequence[ReadableSpan]) -> str:
    """One ``ExportTraceServiceRequest`` of OTLP JSON: spans grouped by resource, then scope.
    Each span is serialised as soon as it is encoded: a batch of encoded spans kept alive as
    dicts until the end made the collector of cyclic garbage walk them over and over (ten times
    the cost of the encoding); bytes are not tracked by it."""
    # Grouped by the resource object itself: a Resource's hash serialises its attributes to JSON.
    resources: dict[int, Any] = {}
    grouped: dict[int, dict[Any, list[bytes]]] = {}
    for span in spans:
        resources.setdefault(id(span.resource), span.resource)
        scopes = grouped.setdefault(id(span.resource), {})
        scopes.setdefault(span.instrumentation_scope or None, []).append(orjson.dumps(_json_span(span)))
    resource_spans = []
    for key, scopes in grouped.items():
        resource = resources[key]
        scope_spans = []
        for scope, encoded in scopes.items():
            head = {
                "scope": _nonempty(
                    name=scope.name, version=scope.version or "", attributes=_json_attributes(scope.attributes)
                )
                if scope is not None
                else {},
                **_nonempty(schemaUrl=scope.schema_url if scope is not None else ""),
            }
            scope_spans.append(_with_list(head, "spans", encoded))
        head = {
            "resource": _nonempty(attributes=_json_attributes(resource.attributes)),
            **_nonempty(schemaUrl=resource.schema_url),
        }
        resource_spans.append(_with_list(head, "scopeSpans", scope_spans))
    return _with_list({}, "resourceSpans", resource_spans).decode() if resource_spans else "{}"


def _with_list(head: dict[str, Any], name: str, items: list[bytes]) -> bytes:
    """``head`` as JSON with one more member, ``name``, the list of the JSON ``items``."""
    opening = orjson.dumps(head)[:-1] + (b"," if head else b"")
    return opening + b'"' + name.encode() + b'":[' + b",".join(items) + b"]}"


class JsonLinesSpanExporter(SpanExporter):
    """Appends each batch of spans to ``<folder>/<process>.jsonl``."""

    def __init__(self, folder: Path, process: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{process}.jsonl"
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            line = otlp_json(spans) + "\n"
            with self._lock, open(self.path, "a", encoding="utf-8") as out:
                out.write(line)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


# -- reading ---------------------------------------------------------------------------------


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    process: str
    start: int
    end: int
    status: str
    attributes: dict[str, Any] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) / 1e6


def _value(any_value: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "arrayValue" in any_value:
        return [_value(item) for item in any_value["arrayValue"].get("values", [])]
    return None


def _attributes(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def spans_of_request(request: dict[str, Any]) -> Iterator[Span]:
    """The spans of one OTLP JSON ``ExportTraceServiceRequest``."""
    for resource_spans in request.get("resourceSpans", []):
        resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
        process = str(resource.get("service.name", "?"))
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                yield Span(
                    trace_id=span.get("traceId", ""),
                    span_id=span.get("spanId", ""),
                    parent_id=span.get("parentSpanId", ""),
                    name=span.get("name", ""),
                    kind=KINDS.get(int(span.get("kind", 0)), ""),
                    process=process,
                    start=int(span.get("startTimeUnixNano", 0)),
                    end=int(span.get("endTimeUnixNano", 0)),
                    status=STATUS.get(int(span.get("status", {}).get("code", 0)), ""),
                    attributes=_attributes(span.get("attributes", [])),
                    links=[(link.get("traceId", ""), link.get("spanId", "")) for link in span.get("links", [])],
                )


def read_spans(folder: Path) -> Iterator[Span]:
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield from spans_of_request(json.loads(line))


def waterfall(spans: list[Span], width: int = 40) -> str:
    """One line per span, children under their parent, with a bar placing it in the trace."""
    if not spans:
        return ""
    by_id = {span.span_id: span for span in spans}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for span in spans:
        if span.parent_id and span.parent_id in by_id:
            children.setdefault(span.parent_id, []).append(span)
        else:
            roots.append(span)
    begin = min(span.start for span in spans)
    total = max(max(span.end for span in spans) - begin, 1)
    process_width = max(len(span.process) for span in spans)
    rows: list[str] = []

    def walk(span: Span, depth: int) -> None:
        left = int((span.start - begin) / total * width)
        length = max(1, int((span.end - span.start) / total * width))
        bar = " " * left + "█" * min(length, width - left) if left < width else " " * (width - 1) + "█"
        name = "  " * depth + span.name + (f" [{span.kind}]" if span.kind else "")
        rows.append(
            f"{(span.start - begin) / 1e6:9.2f} {span.duration_ms:9.2f}  {span.process:<{process_width}}  "
            f"{bar:<{width}}  {name}{'  ' + span.status if span.status == 'ERROR' else ''}"
        )
        for child in sorted(children.get(span.span_id, []), key=lambda s: s.start):
            walk(child, depth + 1)

    for root in sorted(roots, key=lambda s: s.start):
        walk(root, 0)
    header = f"{'start ms':>9} {'dur ms':>9}  {'process':<{process_width}}  {'':<{width}}  span"
    return "\n".join([header, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ostan_kit.runtime.traces", description=__doc__.split("\n\n")[0])
    default_dir = Path(os.environ.get("OSTAN_STATE_DIR", ".ostan")) / "traces"
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print one trace as a waterfall")
    show.add_argument("trace_id")
    show.add_argument("--dir", type=Path, default=default_dir)
    listing = commands.add_parser("list", help="the latest traces: id, start, spans, root span")
    listing.add_argument("--dir", type=Path, default=default_dir)
    listing.add_argument("--last", type=int, default=20)
    arguments = parser.parse_args(argv)
    if not arguments.dir.is_dir():
        print(f"no traces in {arguments.dir}", file=sys.stderr)
        return 1
    if arguments.command == "show":
        wanted = arguments.trace_id.strip().lower()
        spans = [span for span in read_spans(arguments.dir) if span.trace_id == wanted]
        if not spans:
            print(f"no spans of trace {wanted} in {arguments.dir}", file=sys.stderr)
            return 1
        print(f"trace {wanted}: {len(spans)} spans in {len({s.process for s in spans})} processes")
        print(waterfall(spans))
        return 0
    traces: dict[str, list[Span]] = {}
    for span in read_spans(arguments.dir):
        traces.setdefault(span.trace_id, []).append(span)
    latest = sorted(traces.items(), key=lambda item: min(s.start for s in item[1]))[-arguments.last :]
    for trace_id, spans in latest:
        root = min(spans, key=lambda s: (bool(s.parent_id), s.start))
        print(f"{trace_id}  {len(spans):4d} spans  {root.process}: {root.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
