"""The OpenAPI document, rendered as committed in openapi.yaml."""

from __future__ import annotations

import yaml

from app.main import create_app
from app.settings import Settings


def render_openapi() -> str:
    # Any keys will do: the document does not depend on them, and none are written to disk.
    settings = Settings(id_hmac_key="A" * 43 + "=", id_encryption_key="B" * 43 + "=")
    document = create_app(settings).openapi()
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
