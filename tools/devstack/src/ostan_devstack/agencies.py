"""The agency simulator: the police, the intelligence directorate, the judiciary, the civil
registry and the other agencies case steps ask, as one process on the bus for local runs and
tests. It reads every ``inquiry-requested`` event from the services' streams and answers on the
request's reply subject, as a data file says (``agency_answers.yaml``: delays, refusals, silence,
per agency and per subject), each answer signed (JWS, EdDSA) with a key of the agency's own: the
keys live in ``--keys-dir`` (the local run's ``<state>/agencies/``), which also holds the JWKS file
the services verify the answers with (``agency_keys.py``).

    python -m ostan_devstack.agencies --nats-url nats://127.0.0.1:14222 --keys-dir DIR [--seed-file F] [--answers FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from google.protobuf import json_format
from nats.js.errors import NotFoundError

from ostan.common.v1 import events_pb2
from ostan_devstack.agency_keys import AgencyKeyring
from ostan_kit.inquiries.outbound import ANSWER_TYPE, ensure_answers_stream
from ostan_kit.messaging import cloudevents
from ostan_kit.messaging.bus import connect_options
from ostan_kit.runtime.registry import SERVICES

log = logging.getLogger("ostan.agencies")
ANSWERS = Path(__file__).with_name("agency_answers.yaml")
# Its bus identity (``natsauth.inquiry_answerer_identity``): reads requests, publishes answers.
IDENTITY = "agency-simulator"


def behaviour(answers: dict[str, Any], agency: str, subjects: list[str]) -> dict[str, Any]:
    """What ``agency`` does with a request about ``subjects``: a subject's rule beats the agency's."""
    chosen = {**answers.get("default", {}), **answers.get("agencies", {}).get(agency, {})}
    for subject in subjects:
        chosen.update(answers.get("subjects", {}).get(subject, {}).get("agencies", {}).get(agency, {}))
    return chosen


class Simulator:
    def __init__(
        self, nats_url: str, answers: dict[str, Any], keyring: AgencyKeyring, seed_file: Path | None = None
    ) -> None:
        self.nats_url = nats_url
        self.seed_file = seed_file
        self.answers = answers
        self.keyring = keyring
        self.pending: set[asyncio.Task] = set()

    def sign(self, agency: str, body: dict[str, Any]) -> str:
        return self.keyring.sign(agency, body)

    async def run(self, stop: asyncio.Event) -> None:
        self.keyring.publish()
        connection = await nats.connect(
            self.nats_url,
            name="ostan-agency-simulator",
            max_reconnect_attempts=-1,
            **connect_options(IDENTITY, self.seed_file),
        )
        js = connection.jetstream(timeout=5)
        await ensure_answers_stream(js)
        readers = [asyncio.create_task(self._read(js, name, info.stream)) for name, info in SERVICES.items()]
        log.info("agency simulator ready", extra={"services": len(readers)})
        await stop.wait()
        for task in [*readers, *self.pending]:
            task.cancel()
        await asyncio.gather(*readers, *self.pending, return_exceptions=True)
        # Not drain(): it waits out every subscription's pull (up to 30 s) for nothing, as the
        # readers are gone and an unanswered request is fetched again by the next simulator.
        await connection.close()

    async def _read(self, js: Any, service: str, stream: str) -> None:
        subscription = None
        while True:
            try:
                if subscription is None:
                    subscription = await js.pull_subscribe(
                        f"ostan.{service}.*.inquiry-requested", durable=IDENTITY, stream=stream
                    )
                try:
                    messages = await subscription.fetch(batch=20, timeout=1)
                except TimeoutError:
                    continue
                for message in messages:
                    request = json_format.Parse(message.data, events_pb2.InquiryRequested(), ignore_unknown_fields=True)
                    task = asyncio.create_task(self._answer(js, request))
                    self.pending.add(task)
                    task.add_done_callback(self.pending.discard)
                    await message.ack()
            except asyncio.CancelledError:
                raise
            except NotFoundError:  # the service has not made its stream yet
                subscription = None
                await asyncio.sleep(0.5)
            except Exception as error:
                log.warning("reading requests failed; again shortly", extra={"service": service, "error": str(error)})
                subscription = None
                await asyncio.sleep(0.5)

    async def _answer(self, js: Any, request: events_pb2.InquiryRequested) -> None:
        rule = behaviour(self.answers, request.agency, list(request.subjects))
        if rule.get("silent"):
            log.info("staying silent", extra={"agency": request.agency, "request_id": request.request_id})
            return
        await asyncio.sleep(float(rule.get("delay_seconds", 0)))
        now = datetime.now(UTC)
        verdict = rule.get("verdict", "positive")
        content = {"subjects": list(request.subjects), "letter": f"SIM-{request.request_id[-6:]}"}
        # What the services check: the request, the agency, the verdict and the answer's body.
        body = {"request_id": request.request_id, "agency": request.agency, "verdict": verdict,
                "subjects": list(request.subjects), "answer": content, "answered_at": now.isoformat()}
        answer = events_pb2.InquiryAnswered(
            request_id=request.request_id, agency=request.agency, verdict=verdict, signature=self.sign(request.agency, body)
        )
        answer.answer.update(content)
        answer.answered_at.FromDatetime(now)
        event_id = f"{request.request_id}-answer"
        headers = cloudevents.binary_headers(
            event_id=event_id, source=f"/agencies/{request.agency}", event_type=ANSWER_TYPE,
            subject=request.case_code, time=now, data_schema=answer.DESCRIPTOR.full_name,
        )
        payload = json.dumps(json_format.MessageToDict(answer, preserving_proto_field_name=True), ensure_ascii=False)
        for attempt in range(30):
            try:
                await js.publish(request.reply_subject, payload.encode(), headers=headers, timeout=5)
                return
            except Exception as error:
                log.warning("answer not published yet", extra={"attempt": attempt, "error": str(error)})
                await asyncio.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ostan_devstack.agencies", description=__doc__)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--answers", type=Path, default=ANSWERS, help="the behaviour file (default: the packaged one)")
    parser.add_argument(
        "--keys-dir", type=Path, required=True,
        help="where the agencies' signing keys are kept (made on first use) with their JWKS file",
    )
    parser.add_argument("--seed-file", type=Path, help="the nkey seed of its bus identity (when the bus asks for one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='{"level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}')
    import yaml

    answers = yaml.safe_load(args.answers.read_text("utf-8")) or {}

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await Simulator(args.nats_url, answers, AgencyKeyring(args.keys_dir), args.seed_file).run(stop)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
