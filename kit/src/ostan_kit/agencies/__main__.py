"""What an agency needs to subscribe to the events it is granted.

    python -m ostan_kit.agencies credentials <agency> [--state-dir .ostan] [--out DIR] [--url URL]
    python -m ostan_kit.agencies list

``credentials`` writes into DIR (default ``agency-<slug>/``): ``user.nk`` (the agency's nkey seed,
mode 0600: keep it secret) and ``connection.json`` (the bus address, the agency's stream, the
subjects it may read, its inbox prefix and the event types granted to it). The seed comes from
the state folder of a local run (``make run`` makes one per agency); in production the operator
hands the agency its ``nats-agency-<slug>`` Secret's seed instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from ostan_kit.agencies import agencies
from ostan_kit.messaging.grants import load_all_grants
from ostan_kit.messaging.natsauth import (
    KeyStore,
    agency_event_subject,
    agency_identity,
    agency_parked_subject,
    agency_stream,
    agency_subject_root,
)


def connection(agency: str, url: str) -> dict:
    identity = agency_identity(agency)
    granted = [
        {
            "service": grant.service,
            "process": grant.process,
            "event": event,
            "subject": agency_event_subject(agency, grant.service, grant.process, event),
            "fields": list(grant.fields),
            "legal_basis": grant.legal_basis,
        }
        for grants in load_all_grants().values()
        for grant in grants
        if grant.agency == agency
        for event in grant.events
    ]
    return {
        "agency": agency,
        "identity": identity.name,
        "url": url,
        "seed_file": "user.nk",
        "inbox_prefix": identity.inbox_prefix,
        "stream": agency_stream(agency),
        "filter_subject": f"{agency_subject_root(agency)}.events.>",
        "parked_subject_pattern": agency_parked_subject(agency, "<durable>"),
        "granted": granted,
        "contracts": "GET /v1/events/asyncapi.json on the gateway",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ostan_kit.agencies")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the agencies and what each is granted")
    credentials = commands.add_parser("credentials", help="write what an agency needs to connect")
    credentials.add_argument("agency")
    credentials.add_argument("--state-dir", type=Path, default=Path(os.environ.get("OSTAN_STATE_DIR", ".ostan")))
    credentials.add_argument("--out", type=Path)
    credentials.add_argument(
        "--url", default=f"nats://127.0.0.1:{os.environ.get('OSTAN_NATS_PORT', '14222')}"
    )
    args = parser.parse_args(argv)
    known = agencies()
    if args.command == "list":
        for slug, agency in known.items():
            print(f"{slug:20} {agency.title_en} — {len(connection(slug, '')['granted'])} event types granted")
        return 0
    if args.agency not in known:
        print(f"unknown agency {args.agency!r}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    keys = KeyStore(args.state_dir.resolve() / "nats-auth")
    seed = keys.seed_file(agency_identity(args.agency).name)
    if not seed.exists():
        print(f"no seed at {seed}: start the platform once (make run) to make the identities", file=sys.stderr)
        return 1
    out = args.out or Path(f"agency-{args.agency}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "user.nk"
    shutil.copyfile(seed, target)
    target.chmod(0o600)
    (out / "connection.json").write_text(json.dumps(connection(args.agency, args.url), ensure_ascii=False, indent=2) + "\n")
    print(f"wrote {target} and {out / 'connection.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
