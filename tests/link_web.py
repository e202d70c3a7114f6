"""The console's FastAPI app in process, for integration tests of the units' link pages and of console pages
(no server process)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any


class Web:
    """The console's FastAPI app in process over ``db_url`` (as `duban serve --as-of` serves it), through
    httpx's ASGI transport: no server process, the same routes, middleware and database. Cookies are kept
    from one request to the next (a console session after ``login``)."""

    def __init__(self, db_url: str, tmp_path: Path, *, public_url: str | None = None,
                 as_of_day: dt.date | None = None, **settings: Any) -> None:
        from duban.config.settings import Settings
        from duban.web.app import create_app
        from duban.workflows.bootstrap import App

        self.app = App(settings=Settings(database_url=db_url, outbox_dir=tmp_path / "outbox",
                                         config_dir=tmp_path / "cfg", public_url=public_url, **settings),
                       as_of_day=as_of_day)
        self.web = create_app(self.app)
        self.cookies: Any = None  # httpx.Cookies once a response set one

    def request(self, method: str, path: str, **kw: Any) -> Any:
        import anyio
        import httpx

        async def go() -> Any:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.web), base_url="http://unit.test",
                                         cookies=self.cookies) as c:
                response = await c.request(method, path, **kw)
                self.cookies = c.cookies
                return response

        return anyio.run(go)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.request("POST", path, **kw)

    def login(self, name: str, password: str) -> None:
        """A console session of ``name`` (the login form, its CSRF token), kept for the next requests."""
        import re

        token = re.search(r'name="csrf" value="([^"]+)"', self.get("/login").text).group(1)
        r = self.post("/login", data={"name": name, "password": password, "csrf": token, "next": "/"})
        assert r.status_code == 303, r.text

    def close(self) -> None:
        self.app.close()
