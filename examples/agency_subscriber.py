"""An agency's subscriber: reads the events its grants give it, checks each against its published
JSON Schema, and applies each exactly once (kit's consumer: durable pull consumer, explicit acks,
an inbox table, parking of what it cannot read).

    python -m ostan_kit.agencies credentials police --out agency-police
    python examples/agency_subscriber.py --credentials agency-police \\
        --contracts http://127.0.0.1:8080/v1/events/asyncapi.json [--from beginning|new|sequence:N|time:ISO]
    python examples/agency_subscriber.py --credentials agency-police --contracts … replay-parked

"Applying" an event here is storing it in the ``received_events`` table of ``--database`` (SQLite
by default, in the credentials folder) and printing it as a JSON line; an agency puts its own
effect there, in the same transaction. ``--from`` starts the durable consumer over from that
point (events this consumer applied before are skipped by the inbox); without it, the consumer
resumes where it stopped, after its own restart or the broker's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import nats
from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ostan_kit.messaging.consumer import Consumer, Event, Rejected, StartFrom
from ostan_kit.persistence.db import Database
from ostan_kit.persistence.models import InboxRow


class Base(DeclarativeBase):
    pass


class ReceivedEvent(Base):
    __tablename__ = "received_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(255))
    case_code: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def load_contracts(location: str) -> dict[str, dict]:
    """The JSON Schema of each event type, from the AsyncAPI document (a URL or a file)."""
    if location.startswith(("http://", "https://")):
        with urllib.request.urlopen(location, timeout=10) as answer:
            document = json.load(answer)
    else:
        document = json.loads(Path(location).read_text())
    schemas = document["components"]["schemas"]
    by_type = {}
    for name, message in document["components"]["messages"].items():
        by_type[message["name"]] = schemas[name]
    return by_type


class Subscriber:
    def __init__(self, connection: dict, contracts: dict[str, dict], database: Database, durable: str) -> None:
        self.connection = connection
        self.validators = {
            event_type: jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
            for event_type, schema in contracts.items()
        }
        self.consumer = Consumer(
            database=database,
            stream=connection["stream"],
            durable=durable,
            filter_subjects=[connection["filter_subject"]],
            handlers={event_type: self.apply for event_type in contracts},
            dead_letter_stream=connection["stream"],
            dead_letter_subject=connection["parked_subject_pattern"].replace("<durable>", durable),
            validate=self.validate,
        )

    def validate(self, event: Event) -> None:
        errors = sorted(self.validators[event.type].iter_errors(event.data), key=lambda error: error.path)
        if errors:
            raise Rejected("data fails its schema: " + "; ".join(error.message for error in errors[:5]))

    async def apply(self, session: AsyncSession, event: Event) -> None:
        session.add(
            ReceivedEvent(
                event_id=event.id, event_type=event.type, case_code=event.subject, data=event.data,
                received_at=datetime.now(UTC),
            )
        )
        print(json.dumps({"id": event.id, "type": event.type, "sequence": event.stream_sequence, "data": event.data},
                         ensure_ascii=False), flush=True)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="subscribe", choices=["subscribe", "replay-parked"])
    parser.add_argument("--credentials", type=Path, required=True, help="the folder `credentials` wrote")
    parser.add_argument("--contracts", required=True, help="the AsyncAPI document: a URL or a file")
    parser.add_argument("--durable", default="example-subscriber", help="the durable consumer's name")
    parser.add_argument("--database", help="where the inbox and the effects live (default: SQLite beside the credentials)")
    parser.add_argument("--from", dest="start", help="beginning, new, sequence:<n> or time:<ISO 8601>")
    parser.add_argument("--until-idle", type=float, default=0, help="stop after this many seconds without events")
    args = parser.parse_args(argv)

    connection = json.loads((args.credentials / "connection.json").read_text())
    url = args.database or f"sqlite+aiosqlite:///{(args.credentials / 'subscriber.db').resolve()}"
    database = Database(url)
    async with database.engine.begin() as schema:
        await schema.run_sync(lambda sync: InboxRow.__table__.create(sync, checkfirst=True))
        await schema.run_sync(Base.metadata.create_all)
    subscriber = Subscriber(connection, load_contracts(args.contracts), database, args.durable)
    client = await nats.connect(
        connection["url"],
        nkeys_seed=str(args.credentials / connection["seed_file"]),
        inbox_prefix=connection["inbox_prefix"],
        name=f"{connection['identity']}-{args.durable}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
    )
    try:
        consumer = subscriber.consumer
        if args.command == "replay-parked":
            counts = await consumer.replay_parked(client)
            print(json.dumps({"applied": counts.handled, "applied_before": counts.duplicates,
                              "still_failing": counts.parked, "reasons": counts.reasons}, ensure_ascii=False))
            return 0
        if args.start:
            await consumer.reset(client, StartFrom.parse(args.start))
        consumer.start(client)
        last, quiet = -1, 0.0
        while not args.until_idle or quiet < args.until_idle:
            await asyncio.sleep(0.5)
            seen = consumer.counts.handled + consumer.counts.duplicates + consumer.counts.parked
            quiet = quiet + 0.5 if seen == last else 0.0
            last = seen
        await consumer.stop()
        counts = consumer.counts
        print(json.dumps({"applied": counts.handled, "applied_before": counts.duplicates, "parked": counts.parked,
                          "reasons": counts.reasons}, ensure_ascii=False), file=sys.stderr)
        return 0
    finally:
        await client.close()
        await database.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
