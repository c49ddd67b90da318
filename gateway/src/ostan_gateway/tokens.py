"""Print a bearer token for trying the gateway locally: ``python -m ostan_gateway.tokens --help``.

For local development and tests only: real tokens come from the identity provider.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ostan_gateway.auth import SECRET_ENV, TokenVerifier, ensure_local_secret, issue_token
from ostan_gateway.problems import Problem
from ostan_kit.catalogue.entries import load_organisation
from ostan_kit.inquiries.types import agencies
from ostan_kit.processes import fields

LOCAL_KEYS_ENV = "OSTAN_GATEWAY_LOCAL_KEYS_DIR"


def local_secret() -> str:
    """The secret the local gateway checks tokens with (see DESCRIPTION)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    if os.environ.get(SECRET_ENV + "_FILE"):
        return Path(os.environ[SECRET_ENV + "_FILE"]).read_text().strip()
    folder = os.environ.get(LOCAL_KEYS_ENV) or str(Path(os.environ.get("OSTAN_STATE_DIR", ".ostan")) / "keys")
    return ensure_local_secret(Path(folder))


DESCRIPTION = f"""\
Print a signed bearer token for the Ostan gateway, for LOCAL DEVELOPMENT AND TESTS ONLY.

The token is signed with the local issuer's secret: {SECRET_ENV} (or {SECRET_ENV}_FILE)
when set, else the one `make run` keeps in its state folder ({LOCAL_KEYS_ENV}, or
$OSTAN_STATE_DIR/keys, by default .ostan/keys). The token is checked the way the gateway
checks it before it is printed.

Use it as:  curl -H "Authorization: Bearer $(python -m ostan_gateway.tokens ...)" ...
"""

EXAMPLES = """\
examples:
  python -m ostan_gateway.tokens staff --office foreign-nationals --role clerk --name "Sara Ahmadi"
  python -m ostan_gateway.tokens citizen --national-code 0084575948 --name "Ali Rezaei"
  python -m ostan_gateway.tokens agency --agency police
"""


def _national_code(value: str) -> str:
    try:
        return fields.national_code(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r}: {error}") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return number


def parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    root = argparse.ArgumentParser(
        prog="python -m ostan_gateway.tokens", description=DESCRIPTION, epilog=EXAMPLES, formatter_class=formatter
    )
    kinds = root.add_subparsers(dest="kind", required=True, metavar="{staff,citizen,agency}")

    def common(sub: argparse.ArgumentParser, *, name_required: bool) -> None:
        sub.add_argument("--name", required=name_required, help="the caller's display name (Persian is fine)")
        sub.add_argument("--ttl", type=_positive, default=3600, metavar="SECONDS", help="lifetime (default 3600)")

    offices = sorted(office.slug for office in load_organisation().offices)
    staff = kinds.add_parser(
        "staff",
        help="an employee of an office",
        description="A token for an office employee. Offices: " + ", ".join(offices),
    )
    staff.add_argument("--office", required=True, choices=offices, metavar="OFFICE", help="the office slug")
    staff.add_argument(
        "--role", dest="roles", action="append", required=True, metavar="ROLE", help="a role (repeat for more)"
    )
    staff.add_argument("--subject", default="staff-dev", help="the staff user id (default staff-dev)")
    common(staff, name_required=True)

    citizen = kinds.add_parser("citizen", help="a citizen (role applicant)", description="A token for a citizen.")
    citizen.add_argument(
        "--national-code", required=True, type=_national_code, help="the citizen's ten-digit national code"
    )
    common(citizen, name_required=True)

    agency = kinds.add_parser("agency", help="another agency's system", description="A token for an agency system.")
    agency.add_argument(
        "--agency", required=True, choices=sorted(agencies()), metavar="AGENCY",
        help="the agency slug, e.g. police (" + ", ".join(sorted(agencies())) + ")",
    )
    agency.add_argument(
        "--role", dest="roles", action="append", metavar="ROLE", help="a role (repeat for more; default inquirer)"
    )
    agency.add_argument("--subject", default="", help="the system's id (default: the agency slug)")
    agency.add_argument("--name", default="", help="display name (default: the agency slug)")
    agency.add_argument("--ttl", type=_positive, default=3600, metavar="SECONDS", help="lifetime (default 3600)")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    secret = local_secret()
    if args.kind == "staff":
        claims = dict(subject=args.subject, name=args.name, roles=args.roles, office=args.office)
    elif args.kind == "citizen":
        claims = dict(subject=args.national_code, name=args.name, roles=["applicant"])
    else:
        claims = dict(
            subject=args.subject or args.agency,
            name=args.name or args.agency,
            roles=args.roles or ["inquirer"],
            agency=args.agency,
        )
    try:
        token = issue_token(secret, kind=args.kind, ttl_seconds=args.ttl, **claims)
        TokenVerifier(secret).verify(token)
    except (Problem, ValueError) as error:
        print(f"error: {getattr(error, 'detail', error)}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
