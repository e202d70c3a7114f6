"""`duban serve` logins and sessions, through a real server process and HTTP: no default user, the
Argon2-hashed password, the session cookie's flags, CSRF on every form, lock-out after failed logins,
a disabled user out at once, no open redirect, security headers, HTML in plan text shown as text."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.console import PASSWORD, add_user, cli, csrf_of, district, logged_in, served


@pytest.fixture
def office(tmp_path: Path, sqlite_url: str) -> tuple[Path, str]:
    district(tmp_path, sqlite_url)
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    return tmp_path, sqlite_url


def test_a_page_without_a_session_sends_to_the_login_and_a_login_opens_the_overview(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        r = httpx.get(base + "/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/"
        client = logged_in(base, "lin")
        page = client.get("/")
        assert page.status_code == 200
        assert "总览" in page.text and "district-2015" in page.text and "红灯" in page.text
        assert "lin" in page.text


def test_the_password_is_stored_as_an_argon2_hash_and_no_user_exists_by_default(tmp_path: Path, sqlite_url: str) -> None:
    cli(["init", "."], cwd=tmp_path, db_url=sqlite_url)
    assert json.loads(cli(["user", "list", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    with sqlite3.connect(tmp_path / "duban.db") as con:
        (stored,) = con.execute("SELECT password_hash FROM app_user WHERE name = 'lin'").fetchone()
        kinds = [k for (k,) in con.execute("SELECT kind FROM event WHERE kind LIKE 'user%'")]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert kinds == ["user_added"]


@pytest.mark.parametrize(("args", "stdin", "says"), [
    (["user", "add", "x", "--role", "office", "--password-stdin"], "short\n", "at least 10 characters"),
    (["user", "add", "x", "--role", "boss", "--password-stdin"], PASSWORD + "\n", "role 「boss」: one of office, supervisor, viewer"),
    (["user", "add", "a b", "--role", "office", "--password-stdin"], PASSWORD + "\n", "user name 「a b」"),
    (["user", "add", "x", "--role", "office", "--office", "某某办", "--password-stdin"], PASSWORD + "\n", "office 「某某办」 is not an office of any plan"),
    (["user", "passwd", "nobody", "--password-stdin"], PASSWORD + "\n", "no user 「nobody」"),
])
def test_bad_user_commands_say_why_in_one_line_and_change_nothing(office, args, stdin, says) -> None:
    cwd, url = office
    proc = cli(args, cwd=cwd, db_url=url, stdin=stdin, check=False)
    assert proc.returncode != 0 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    users = json.loads(cli(["user", "list", "--json"], cwd=cwd, db_url=url).stdout)
    assert [u["name"] for u in users] == ["lin"]


def test_the_session_cookie_is_httponly_samesite_and_expires_after_8_idle_hours(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = httpx.Client(base_url=base)
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": token}, follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "duban_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "max-age=28800" in cookie and "secure" not in cookie
    with served(cwd, url, "--secure-cookies") as base:
        client = httpx.Client(base_url=base)
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": token}, follow_redirects=False)
        assert "secure" in r.headers["set-cookie"].lower()


def test_forms_without_the_csrf_token_are_refused(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        fresh = httpx.Client(base_url=base)
        fresh.get("/login")
        r = fresh.post("/login", data={"name": "lin", "password": PASSWORD})
        assert r.status_code == 403 and "CSRF" in r.text
        r = fresh.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": "forged"})
        assert r.status_code == 403
        client = logged_in(base, "lin")
        assert client.post("/logout", data={}).status_code == 403
        assert client.get("/").status_code == 200  # still logged in: the forged logout did nothing
        token = csrf_of(client.get("/").text)
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        assert client.get("/").status_code == 303  # logged out


def test_a_logout_ends_the_session_on_the_server_so_a_copied_cookie_no_longer_works(office) -> None:
    """The cookie is signed, not stored: before, a copy kept working after the logout until it expired.
    Now a logout, `duban user passwd` (and disable, above) end the session on the server."""
    cwd, url = office
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        token = csrf_of(client.get("/").text)
        copied = {"cookie": f"duban_session={client.cookies['duban_session']}"}
        assert httpx.get(base + "/", headers=copied).status_code == 200, "the copy works while the session lives"
        assert client.post("/logout", data={"csrf": token}).status_code == 303
        replayed = httpx.get(base + "/tasks", headers=copied)
        assert replayed.status_code == 303 and replayed.headers["location"] == "/login?next=/tasks"
        for path in ("/actions/deliver", "/logout"):  # the copy's CSRF token is its session's: still refused
            r = httpx.post(base + path, headers=copied, data={"csrf": token, "confirm": "yes"})
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (path, r.text)
        assert not (cwd / "var" / "outbox").exists() or not any((cwd / "var" / "outbox").iterdir()), "nothing sent"
        again = logged_in(base, "lin")
        copied = {"cookie": f"duban_session={again.cookies['duban_session']}"}
        assert httpx.get(base + "/", headers=copied).status_code == 200
        cli(["user", "passwd", "lin", "--password-stdin"], cwd=cwd, db_url=url, stdin=PASSWORD + "\n")
        assert again.get("/").status_code == 303 and httpx.get(base + "/", headers=copied).status_code == 303
        assert logged_in(base, "lin").get("/").status_code == 200, "a new login works"
    with sqlite3.connect(cwd / "duban.db") as con:
        kinds = [k for (k,) in con.execute("SELECT kind FROM event WHERE kind LIKE 'user%' ORDER BY id")]
    assert kinds == ["user_added", "user_login", "user_logout", "user_login", "user_password_set", "user_login"]


def test_five_failed_logins_lock_the_user_and_the_message_never_tells_which_part_was_wrong(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = httpx.Client(base_url=base)
        token = csrf_of(client.get("/login").text)
        unknown = client.post("/login", data={"name": "nobody", "password": PASSWORD, "csrf": token})
        for _ in range(5):
            wrong = client.post("/login", data={"name": "lin", "password": "wrong password!", "csrf": token})
            assert wrong.status_code == 401
        assert unknown.status_code == 401 and "用户名或密码不正确" in unknown.text
        assert "用户名或密码不正确" in wrong.text
        locked = client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": token})
        assert locked.status_code == 401, "locked for 15 minutes even with the right password"
    cli(["user", "passwd", "lin", "--password-stdin"], cwd=cwd, db_url=url, stdin=PASSWORD + "\n")  # lifts the lock
    with served(cwd, url) as base:
        assert logged_in(base, "lin").get("/").status_code == 200
    with sqlite3.connect(cwd / "duban.db") as con:
        kinds = [k for (k,) in con.execute("SELECT kind FROM event WHERE kind LIKE 'user%' ORDER BY id")]
    assert kinds == ["user_added", "user_locked", "user_password_set", "user_login"]


def test_a_disabled_user_is_out_at_the_next_request(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        assert client.get("/").status_code == 200
        cli(["user", "disable", "lin"], cwd=cwd, db_url=url)
        assert client.get("/").status_code == 303
        token = csrf_of(client.get("/login").text)
        assert client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": token}).status_code == 401


def test_the_login_redirects_only_to_this_site(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = httpx.Client(base_url=base)
        for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            token = csrf_of(client.get("/login", params={"next": evil}).text)
            r = client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": token, "next": evil},
                            follow_redirects=False)
            assert r.headers["location"] == "/", evil
            client.cookies.clear()


def test_pages_carry_security_headers_and_assets_are_served_locally(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        page = client.get("/")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
        assert "http://" not in page.text.replace(base, "") and "https://" not in page.text
        assert client.get("/static/duban.css").status_code == 200


def test_html_in_a_plan_title_is_shown_as_text(tmp_path: Path, sqlite_url: str) -> None:
    import shutil

    import yaml

    from tests.support import PLANS

    data = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    data["plan"]["title"] = "<script>alert(1)</script><b>方案</b>"
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    shutil.copy(PLANS / data["directory"], tmp_path / data["directory"])
    cli(["matrix", "import", str(tmp_path / "evil.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    add_user("lin", "viewer", cwd=tmp_path, db_url=sqlite_url)
    with served(tmp_path, sqlite_url) as base:
        page = logged_in(base, "lin").get("/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;方案&lt;/b&gt;" in page


def test_a_user_of_one_office_sees_only_that_offices_plans(office) -> None:
    """Two offices share one database: each user sees the plans of the office(s) they belong to."""
    from tests.support import PLANS

    cwd, url = office
    cli(["matrix", "import", str(PLANS / "township-spiritual.yaml"), "--as-of", "2015-07-01"], cwd=cwd, db_url=url)
    add_user("district", "viewer", cwd=cwd, db_url=url, offices=("區扶貧開發領導小組辦公室",))
    add_user("township", "viewer", cwd=cwd, db_url=url, offices=("鄉精神扶貧工作領導小組辦公室",))
    with served(cwd, url) as base:
        with closing(logged_in(base, "district")) as client:
            seen = client.get("/").text
        assert "district-2015" in seen and "township-spiritual" not in seen
        with closing(logged_in(base, "township")) as client:
            seen = client.get("/").text
        assert "township-spiritual" in seen and "district-2015" not in seen
        with closing(logged_in(base, "lin")) as client:  # no --office: every plan
            seen = client.get("/").text
        assert "township-spiritual" in seen and "district-2015" in seen


def test_the_shared_outbox_is_only_for_users_of_every_office(office) -> None:
    """Mail is not tied to a plan (a digest carries several plans' notices): a user limited to one office
    neither sees the outbox nor delivers or retries it (403, nothing sent); a user of every office does."""
    cwd, url = office
    add_user("district", "office", cwd=cwd, db_url=url, offices=("區扶貧開發領導小組辦公室",))
    with served(cwd, url) as base:
        with closing(logged_in(base, "district")) as client:
            page = client.get("/").text
            assert 'href="/mail' not in page
            assert client.get("/mail").status_code == 403
            token = csrf_of(page)
            r = client.post("/actions/deliver", data={"csrf": token, "confirm": "yes"})
            assert r.status_code == 403
            assert client.post("/mail/retry", data={"csrf": token, "confirm": "yes"}).status_code == 403
        assert not (cwd / "var" / "outbox").exists() or not any((cwd / "var" / "outbox").iterdir())
        with closing(logged_in(base, "lin")) as client:
            assert client.get("/mail").status_code == 200
            r = client.post("/actions/deliver", data={"csrf": csrf_of(client.get("/").text), "confirm": "yes"})
            assert r.status_code == 200
    assert any((cwd / "var" / "outbox").iterdir())
