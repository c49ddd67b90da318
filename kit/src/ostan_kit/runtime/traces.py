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
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
KINDS = {0: "", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "", 1: "ok", 2: "ERROR"}


def _hex_ids(value: Any) -> Any:
    """OTLP JSON writes trace and span ids as hex, where protobuf's JSON mapping writes base64."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in _ID_FIELDS and isinstance(item, str) else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


def otlp_json(spans: Sequence[ReadableSpan]) -> str:
    request = encode_spans(spans)
    as_dict = json_format.MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(_hex_ids(as_dict), ensure_ascii=False, separators=(",", ":"))


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
