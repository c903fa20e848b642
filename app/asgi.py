"""The ASGI entry point for uvicorn or any ASGI server: ``app.asgi:app``."""

from app.logs import configure_logging
from app.main import create_app
from app.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()
