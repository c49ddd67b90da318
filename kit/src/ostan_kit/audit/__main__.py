"""``python -m ostan_kit.audit verify --database-url URL``: walk a service's audit chain; exit 0
when every record is sound, 1 naming the first broken record."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ostan_kit.audit.chain import verify
from ostan_kit.persistence.db import Database


async def _verify(url: str) -> int:
    database = Database(url)
    try:
        count, broken = await verify(database)
    finally:
        await database.close()
    if broken is not None:
        print(f"BROKEN at {broken} ({count} records before it are sound)", file=sys.stderr)
        return 1
    print(f"ok: {count} records, chain intact")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ostan_kit.audit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="walk the chain and name the first broken record")
    check.add_argument("--database-url", required=True, help="the service's database, e.g. sqlite+aiosqlite:///…")
    args = parser.parse_args(argv)
    return asyncio.run(_verify(args.database_url))


if __name__ == "__main__":
    sys.exit(main())
