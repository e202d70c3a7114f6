"""`duban serve`: the console's web application served by uvicorn, over the process's ``App``.

One process by default. ``workers`` > 1 starts that many uvicorn worker processes on the same port: each
builds its own ``App`` from the same settings (the environment; ``web.app.from_environment``), so pages
are served side by side on every core. Nothing a page needs is kept per process: sessions, login
throttling and lights are in the database, so any worker can answer any request.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App

SECURE_COOKIES_ENV = "DUBAN_SERVE_SECURE_COOKIES"  # how the worker processes learn --secure-cookies
AS_OF_ENV = "DUBAN_SERVE_AS_OF"  # … and --as-of


def serve(app: App, *, host: str, port: int, secure_cookies: bool, forwarded_allow_ips: str, workers: int = 1) -> None:
    """Serve the console until stopped (Ctrl-C). ``forwarded_allow_ips``: the proxies whose X-Forwarded-For
    and X-Forwarded-Proto are trusted (none by default: the peer is the client). ``workers``: processes."""
    import uvicorn

    from duban.web.app import create_app

    if workers <= 1:
        target: Any = create_app(app, secure_cookies=secure_cookies)
    else:
        app.engine  # noqa: B018 - the schema checked (and migrated) once, here, before the workers open it
        app.close()
        os.environ[SECURE_COOKIES_ENV] = "1" if secure_cookies else "0"
        os.environ[AS_OF_ENV] = app.as_of_day.isoformat() if app.as_of_day else ""
        target = "duban.web.app:from_environment"
    uvicorn.run(target, factory=workers > 1, workers=workers if workers > 1 else None, host=host, port=port,
                log_level="warning", proxy_headers=bool(forwarded_allow_ips),
                forwarded_allow_ips=forwarded_allow_ips or None, server_header=False)
