"""The ASGI entry point for uvicorn or any ASGI server: ``app.asgi:app``."""

import gc

from app.logs import configure_logging
from app.main import create_app
from app.settings import get_settings

configure_logging(get_settings().log_level)
app = create_app()

# Everything built so far (the imported libraries, the app, the policies) lives as long as
# the process. Frozen, it is left out of the collector's passes, which otherwise walk all of
# it again and again: about 0.15 ms of every single certification request (issue 6).
gc.collect()
gc.freeze()
