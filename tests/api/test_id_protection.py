"""The plain ID number is stored nowhere: not in the SQLite file, not in any PostgreSQL column."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from app.domain.enums import Role
from app.protection import IdProtector
from tests.conftest import Api, Database
from tests.factories import id_number, recipient


async def test_the_plain_id_number_is_nowhere_in_the_database(
    committing_api: Api, database: Database, protector: IdProtector
) -> None:
    county = await committing_api.new_client(Role.COUNTY, ("1404",))
    number = id_number()
    assert (await county.post("/v1/recipients", json=recipient(number))).status_code == 201

    async with database.engine.connect() as connection:
        if database.backend == "sqlite":
            path = database.url.split("///", 1)[1]
            stored = await asyncio.to_thread(_read_files, path, path + "-wal")
            assert number.encode() not in stored
            assert number[6:14].encode() + number[14:].encode() not in stored
        else:
            rows = await connection.execute(text("SELECT r::text FROM recipients r"))
            dumped = "\n".join(row[0] for row in rows)
            assert dumped, "the recipient row should exist"
            assert number not in dumped
        ciphertext = await connection.scalar(text("SELECT id_ciphertext FROM recipients"))
    assert protector.decrypt(bytes(ciphertext)) == number


def test_ciphertexts_differ_each_time_but_digests_are_stable(protector: IdProtector) -> None:
    number = id_number()
    assert protector.encrypt(number) != protector.encrypt(number)
    assert protector.digest(number) == protector.digest(number)
    assert protector.digest(number) != protector.digest(id_number())


def _read_files(*paths: str) -> bytes:
    return b"".join(Path(p).read_bytes() for p in paths if Path(p).exists())
