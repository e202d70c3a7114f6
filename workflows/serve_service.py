"""`duban serve`: the console's web application served by uvicorn, over the process's ``App``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App


def serve(app: App, *, host: str, port: int, secure_cookies: bool, forwarded_allow_ips: str) -> None:
    """Serve the console until stopped (Ctrl-C). ``forwarded_allow_ips``: the proxies whose X-Forwarded-For
    and X-Forwarded-Proto are trusted (none by default: the peer is the client)."""
    import uvicorn

    from duban.web.app import create_app

    web = create_app(app, secure_cookies=secure_cookies)
    uvicorn.run(web, host=host, port=port, log_level="warning", proxy_headers=bool(forwarded_allow_ips),
                forwarded_allow_ips=forwarded_allow_ips or None, server_header=False)
