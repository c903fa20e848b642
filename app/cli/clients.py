"""``certsvc clients create|list|revoke``: the API clients and their keys."""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING, Any

from app.cli.runner import positive, with_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


def add_commands(commands: Any) -> None:
    clients = commands.add_parser("clients", help="manage API clients").add_subparsers(
        required=True, metavar="ACTION"
    )
    create = clients.add_parser("create", help="create a client; prints its key on the last line")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role", required=True, choices=["mobile", "county", "data_exchange", "payment", "admin"]
    )
    create.add_argument("--regions", default="", help="comma-separated prefixes, e.g. 14,1404")
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument(
        "--expires-on",
        type=date.fromisoformat,
        metavar="DATE",
        help="the key is refused from 00:00 Beijing time on DATE (default: never expires)",
    )
    expiry.add_argument("--expires-in", type=positive, metavar="DAYS", help="days from now")
    create.set_defaults(handler=_create)
    clients.add_parser("list", help="list clients").set_defaults(handler=_list)
    revoke = clients.add_parser("revoke", help="revoke a client's key")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace) -> int:
    from app.db.base import utcnow
    from app.domain.enums import Role
    from app.services.accounts.clients import create_client, expiry_text, key_expiry

    regions = [part.strip() for part in args.regions.split(",") if part.strip()]
    expires_at = key_expiry(args.expires_on, args.expires_in, utcnow())

    async def run(session: AsyncSession) -> str:
        client, key = await create_client(session, args.name, Role(args.role), regions, expires_at)
        regions_text = ",".join(client.regions) or "-"
        expiry = f" expires={expiry_text(expires_at)}" if expires_at else ""
        print(f"created client {client.name} ({client.role.value}) regions={regions_text}{expiry}")
        print("the key is shown once; store it now:")
        return key

    key = with_session(run)
    print(key)
    return 0


def _list(_args: argparse.Namespace) -> int:
    from app.db.base import utcnow
    from app.services.accounts.clients import expiry_text, has_expired, list_clients

    async def run(session: AsyncSession) -> None:
        now = utcnow()
        for client in await list_clients(session):
            state = "revoked" if client.revoked_at else "active"
            if client.expires_at is not None and not client.revoked_at:
                expired = has_expired(client.expires_at, now)
                state = (
                    f"{'expired' if expired else 'active until'} {expiry_text(client.expires_at)}"
                )
            regions = ",".join(client.regions) or "-"
            print(f"{client.name}\t{client.role.value}\t{regions}\t{client.key_prefix}…\t{state}")

    with_session(run)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from app.services.accounts.clients import revoke_client

    async def run(session: AsyncSession) -> None:
        client = await revoke_client(session, args.name)
        print(f"revoked {client.name}")

    with_session(run)
    return 0
