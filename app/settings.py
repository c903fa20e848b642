"""One settings class for the whole service, read from the environment (prefix ``CERTSVC_``)."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import secrets
from datetime import time
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.enums import Role


class RunCompute(StrEnum):
    API = "api"
    WORKER = "worker"


KEY_BYTES = 32
KEY_ID_MAX = 16
_KEY_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{KEY_ID_MAX - 1}}}")
# Where webhook receivers may not be (app/services/notices/egress.py explains the choice).
DEFAULT_REFUSED_NETWORKS: tuple[str, ...] = (
    "127.0.0.0/8",  # loopback
    "::1/128",
    "0.0.0.0/8",  # "this host"
    "::/128",
    "169.254.0.0/16",  # link-local: 169.254.169.254 is the metadata service of most clouds
    "fe80::/10",
    "100.100.100.200/32",  # Alibaba Cloud's metadata service
    "224.0.0.0/4",  # multicast
    "ff00::/8",
    "255.255.255.255/32",
)


# The rate limits' storages (app/ratelimit.py): this process's memory, or a shared Redis.
RATE_LIMIT_STORAGE_SCHEMES = ("memory", "redis", "rediss", "redis+unix")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """A setting is missing or malformed; its message is one line, fit for a terminal."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CERTSVC_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    database_url: str = "sqlite+aiosqlite:///./var/certsvc.db"
    # Keys protecting the national ID number: 32 random bytes, base64 (standard or url-safe).
    # Rotation (docs/security.md): the current key has a short id; retired keys that stored
    # rows may still need are listed as previous keys, "id:key,id:key".
    id_hmac_key: SecretStr | None = None
    id_hmac_key_id: str | None = None
    id_hmac_previous_keys: SecretStr | None = None
    id_encryption_key: SecretStr | None = None
    id_encryption_key_id: str | None = None
    id_encryption_previous_keys: SecretStr | None = None
    log_level: str = "INFO"
    # Database calls that take longer fail instead of hanging a request.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    # The database URL is a transaction-mode pooler (PgBouncer): no prepared statement outlives
    # its transaction, and single reads run in one (docs/deploy.md, "PgBouncer").
    db_transaction_pooler: bool = False
    # A streaming replica of the database for eligibility reads (PostgreSQL only; docs/deploy.md,
    # "A read replica"): a client that has just written still reads its write from the primary,
    # and a replica further behind than the lag bound, or unreachable, is not read at all.
    read_database_url: str | None = None
    read_max_lag_seconds: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_backdate_days: int = Field(default=90, ge=0)
    # A payment run whose computing process has not beaten its heartbeat for this long may be
    # taken over by a new request for it (docs/deploy.md, "An interrupted payment run").
    run_lease_seconds: float = Field(default=300.0, gt=0)
    # Who computes payment runs: "api", in the background of the API process that accepted
    # the request (the embedded default), or "worker", `certsvc worker` processes on any host,
    # the API only recording the request (docs/deploy.md, "Run workers").
    run_compute: RunCompute = RunCompute.API
    # Benefits per span of a payment run: one page, one write transaction, one heartbeat.
    run_span_benefits: int = Field(default=10_000, ge=1, le=100_000)
    # Benchmarks only (bench.point_eligibility): serve GET /bench/ceiling/{recipient_id}, one
    # row read with asyncpg, outside the OpenAPI document. Never set it in production.
    bench_ceiling: bool = False
    # Requests per second per client, by role (0 = unlimited), per API process. JSON in the
    # environment: CERTSVC_RATE_LIMITS='{"mobile": 500, "county": 50}'.
    rate_limits: dict[Role, float] = Field(
        default_factory=lambda: {
            Role.MOBILE: 500.0,
            Role.COUNTY: 100.0,
            Role.DATA_EXCHANGE: 100.0,
            Role.PAYMENT: 200.0,
            Role.ADMIN: 100.0,
        }
    )

    # Failed authentications (no key, an unknown, revoked or expired key) per source address
    # in the window, per API process; past it the address is answered 429 (0 = unlimited).
    auth_failures_per_address: int = Field(default=20, ge=0)
    auth_failure_window_seconds: float = Field(default=60.0, gt=0)
    # Where the two limits above count (app/ratelimit.py): "memory://", each API process its
    # own, or "redis://host:port/db", shared by every replica (docs/deploy.md, "Rate limits
    # across replicas"). A storage that does not answer within the timeout lets requests through.
    rate_limit_storage: str = "memory://"
    rate_limit_storage_timeout_seconds: float = Field(default=0.25, gt=0)

    # Webhook receivers may not be at these addresses (app/services/notices/egress.py). JSON list in
    # the environment: CERTSVC_WEBHOOK_REFUSED_NETWORKS='["127.0.0.0/8", "10.0.0.0/8"]'.
    webhook_refused_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REFUSED_NETWORKS)
    )
    # ... and not at this host's own interface addresses, whatever their network. Turn it off
    # only to develop against a receiver on the same machine.
    webhook_refuse_own_addresses: bool = True
    # When `certsvc worker` processes sweep each day (Beijing wall time, "HH:MM"): once per
    # day for the whole deployment, by whichever worker gets there first (docs/deploy.md).
    sweep_at: time = time(1, 0)

    @field_validator("sweep_at")
    @classmethod
    def _wall_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError('a Beijing wall time without an offset, e.g. "01:00"')
        return value

    @field_validator("bench_ceiling")
    @classmethod
    def _no_ceiling_in_production(cls, value: bool, info: ValidationInfo) -> bool:
        # The ceiling route answers without an API key: in production that is an open door.
        if value and info.data.get("env") is Environment.PRODUCTION:
            raise ValueError(
                "the benchmark route answers without an API key; it may not be enabled "
                "with CERTSVC_ENV=production"
            )
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme, separator, _ = value.partition("://")
        if not separator or scheme not in RATE_LIMIT_STORAGE_SCHEMES:
            # The message does not echo the value: a Redis URL may carry a password.
            raise ValueError(
                "must be memory:// or redis://host:port/db (also rediss://, redis+unix://)"
            )
        return value

    @field_validator("webhook_refused_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not a network in CIDR notation") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("read_database_url")
    @classmethod
    def _replica_of_postgresql(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("must start with postgresql+asyncpg://")
        if str(info.data.get("database_url", "")).startswith("sqlite"):
            raise ValueError("a read replica needs a PostgreSQL CERTSVC_DATABASE_URL")
        return value

    @field_validator("id_hmac_key", "id_encryption_key")
    @classmethod
    def _valid_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_key(value.get_secret_value())
        return value

    @field_validator("id_hmac_key_id", "id_encryption_key_id")
    @classmethod
    def _valid_key_id(cls, value: str | None) -> str | None:
        return check_key_id(value) if value else None

    @field_validator("id_hmac_previous_keys", "id_encryption_previous_keys")
    @classmethod
    def _valid_previous_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_previous_keys(value.get_secret_value())
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def decode_key(text: str) -> bytes:
    """Decode a base64 key of exactly 32 bytes, or raise ValueError (without echoing the key)."""
    try:
        raw = base64.b64decode(text.strip() + "==", altchars=b"-_", validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 of 32 random bytes") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must be base64 of {KEY_BYTES} random bytes, got {len(raw)}")
    return raw


def check_key_id(text: str) -> str:
    """A key id is stored in every ciphertext the key writes: short, plain ASCII. The message
    does not echo the text (a key pasted in the wrong place must not reach a log)."""
    if not _KEY_ID.fullmatch(text):
        raise ValueError(f"a key id is 1 to {KEY_ID_MAX} letters, digits, '.', '_' or '-'")
    return text


def decode_previous_keys(text: str) -> tuple[tuple[str, bytes], ...]:
    """Parse ``id:key,id:key`` (ids as check_key_id, keys as decode_key); an empty text is no
    keys. Errors name the entry by its position or valid id, never show a key."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), 1):
        key_id, colon, key_text = (part.strip() for part in entry.partition(":"))
        if not colon:
            raise ValueError(f"entry {position} is not id:key")
        try:
            check_key_id(key_id)
        except ValueError as exc:
            raise ValueError(f"entry {position}: {exc}") from None
        if key_id in keys:
            raise ValueError(f"key id {key_id!r} is listed twice")
        try:
            keys[key_id] = decode_key(key_text)
        except ValueError as exc:
            raise ValueError(f"key {key_id!r} {exc}") from None
    return tuple(keys.items())


def new_key_text() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def load_settings() -> Settings:
    """Read the environment; a bad value raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CERTSVC_" + str(first["loc"][0]).upper() if first["loc"] else "CERTSVC_*"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"setting {name} is invalid: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
