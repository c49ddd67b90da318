"""The baseline: a bare FastAPI endpoint returning fixed bytes, served like the gateway.

    python bench/bare_app.py BODY_FILE PORT PATH
"""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Response


def main() -> None:
    body_file, port, path = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    body = body_file.read_bytes()
    app = FastAPI()

    @app.get(path.split("?")[0])
    async def fixed() -> Response:
        return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
