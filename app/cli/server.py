"""``certsvc serve``, ``migrate`` and ``openapi``: the API process and what it is served from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from app.cli.runner import upgrade
from app.settings import get_settings


def add_serve(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the API (migrates first on embedded SQLite)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--forwarded-allow-ips",
        help="proxies whose X-Forwarded-For gives the client's address, e.g. 10.0.0.5 or '*' "
        "(default: uvicorn's, $FORWARDED_ALLOW_IPS or 127.0.0.1)",
    )
    serve.set_defaults(handler=_serve)


def add_migrate(commands: Any) -> None:
    migrate = commands.add_parser("migrate", help="bring the database to the newest migration")
    migrate.set_defaults(handler=_migrate)


def add_openapi(commands: Any) -> None:
    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", default="openapi.yaml")
    openapi.set_defaults(handler=_openapi)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.domain.policy import load_policies
    from app.logs import configure_logging
    from app.metrics import multiprocess_dir
    from app.protection import load_id_protector

    settings = get_settings()
    # Fail here in one line, not in a traceback from inside the server's import of the app.
    load_id_protector(settings)
    load_policies()
    multiprocess_dir()  # PROMETHEUS_MULTIPROC_DIR, when set, must be a writable directory
    configure_logging(settings.log_level)
    if settings.is_sqlite:
        # The embedded default migrates itself; on PostgreSQL migrations are a deploy step.
        upgrade(settings)
    # Each uvicorn worker builds its own runtime in the app's lifespan (app/main.py).
    uvicorn.run(
        "app.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    upgrade(get_settings())
    print("database is at the newest migration")
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from app.openapi import render_openapi

    Path(args.output).write_text(render_openapi())
    print(f"wrote {args.output}")
    return 0
