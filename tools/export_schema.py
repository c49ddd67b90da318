"""Write the catalogue's JSON Schema (from the one pydantic model in kit/) for other teams.

    python tools/export_schema.py [OUT]   # OUT defaults to kit/src/ostan_kit/catalogue/data/catalogue.schema.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ostan_kit.catalogue.entries import json_schema

DEFAULT = Path(__file__).resolve().parents[1] / "kit" / "src" / "ostan_kit" / "catalogue" / "data" / "catalogue.schema.json"


def main(out: Path = DEFAULT) -> None:
    out.write_text(json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
