"""The console's FastAPI app in process, for integration tests of the units' link pages (no server process)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


class Web:
    """The console's FastAPI app in process over ``db_url`` (as `duban serve --as-of` serves it), through
    httpx's ASGI transport: no server process, the same routes, middleware and database."""

    def __init__(self, db_url: str, tmp_path: Path, *, public_url: str | None = None,
                 as_of_day: dt.date | None = None, **settings: Any) -> None:
        from duban.config.settings import Settings
        from duban.web.app import create_app
        from duban.workflows.bootstrap import App

        self.app = App(settings=Settings(database_url=db_url, outbox_dir=tmp_path / "outbox",
                                         config_dir=tmp_path / "cfg", public_url=public_url, **settings),
                       as_of_day=as_of_day)
        self.web = create_app(self.app)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        import anyio
        import httpx

        async def go() -> Any:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.web), base_url="http://unit.test") as c:
                return await c.request(method, path, **kw)

        return anyio.run(go)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def close(self) -> None:
        self.app.close()
