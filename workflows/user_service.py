"""Console users (`duban user add|passwd|disable|list`, the login of `duban serve`) and duban's own secrets.

Passwords are kept only as Argon2id hashes (pwdlib's recommended hasher); a hash made with older
parameters is upgraded on the next good login. There is no default user and no default password.
Five failed logins in a row lock the user out for 15 minutes (the web layer also slows down failed logins
per client address); the message never says whether the name or the password was wrong.

Every change is an event with the acting user (``actor``: the console user, or ``cli`` and the login name).

A console session names the user and their ``session_generation`` when it was made (``session_of``);
``active_user`` accepts it only while that generation is the user's. Logging out (``end_sessions``), a
new password and disabling the user advance the generation: every session made before ends on the
server, a copied cookie as well, not only when the cookie expires.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from duban.matrix.errors import NotFound, Refused, quote
from duban.store.db import transaction
from duban.store.tables import EventRow, PlanRow, SecretRow, UnitRow, UserRow

if TYPE_CHECKING:
    from pwdlib import PasswordHash
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

ROLES = ("office", "supervisor", "viewer")
ROLE_HELP = "office: works the console (actions); supervisor: also approves reports; viewer: reads only"
MIN_PASSWORD = 10
LOCK_AFTER = 5
LOCK_FOR = dt.timedelta(minutes=15)
_NAME = re.compile(r"^[\w.@-]{1,80}$")


class LoginRefused(Refused):
    """A login that did not succeed: one message for every reason, so it does not tell names apart."""

    def __init__(self) -> None:
        super().__init__("用户名或密码不正确，或该用户已被停用或暂时锁定 (wrong name or password, or the user is disabled or locked for a while)")


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    from pwdlib import PasswordHash

    return PasswordHash.recommended()


def _utc(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Refused(f"password: at least {MIN_PASSWORD} characters, please (got {len(password)})")
    if len(password) > 1024:
        raise Refused("password: at most 1024 characters")
    return password


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise Refused(f"user name {quote(name)}: 1–80 letters, digits or . _ - @ (no spaces)")
    return name


def _check_offices(session: Session, offices: list[str]) -> list[str]:
    known = set(session.execute(sa.select(col(UnitRow.name)).where(col(UnitRow.is_office).is_(True))).scalars())
    known |= set(session.execute(sa.select(col(UnitRow.name))
                                 .join(PlanRow, col(PlanRow.office_unit_id) == col(UnitRow.id))).scalars())
    unknown = [o for o in offices if o not in known]
    if unknown:
        have = "、".join(sorted(known)) or "none yet: import a plan first"
        raise Refused(f"office {quote(unknown[0])} is not an office of any plan (offices: {have})")
    return offices


def _event(session: Session, kind: str, now: dt.datetime, actor: str, **data: Any) -> None:
    session.add(EventRow(at=_utc(now), kind=kind, actor=actor, data=data))


def _get(session: Session, name: str) -> UserRow:
    row = session.execute(sa.select(UserRow).where(col(UserRow.name) == name)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no user {quote(name)} (duban user list shows them)")
    return row


def user_json(row: UserRow) -> dict[str, Any]:
    return {"name": row.name, "role": row.role, "offices": list(row.offices), "disabled": row.disabled,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "last_login_at": row.last_login_at.isoformat() if row.last_login_at else None}


def add_user(engine: Engine, *, name: str, password: str, role: str, offices: list[str], now: dt.datetime,
             actor: str) -> dict[str, Any]:
    """A new console user. ``offices`` empty: every office's plans."""
    _check_name(name)
    if role not in ROLES:
        raise Refused(f"role {quote(role)}: one of {', '.join(ROLES)} ({ROLE_HELP})")
    check_password(password)
    hashed = _hasher().hash(password)
    with transaction(engine) as s:
        if s.execute(sa.select(col(UserRow.id)).where(col(UserRow.name) == name)).first() is not None:
            raise Refused(f"user {quote(name)} exists already (duban user passwd changes a password)")
        row = UserRow(name=name, password_hash=hashed, role=role, offices=_check_offices(s, offices),
                      created_at=_utc(now))
        s.add(row)
        _event(s, "user_added", now, actor, user=name, role=role, offices=offices)
        s.flush()
        return user_json(row)


def set_password(engine: Engine, *, name: str, password: str, now: dt.datetime, actor: str) -> None:
    check_password(password)
    hashed = _hasher().hash(password)
    with transaction(engine) as s:
        row = _get(s, name)
        row.password_hash, row.failed_logins, row.locked_until = hashed, 0, None
        row.session_generation += 1  # the old password's sessions end with it
        _event(s, "user_password_set", now, actor, user=name)


def set_disabled(engine: Engine, *, name: str, disabled: bool, now: dt.datetime, actor: str) -> None:
    """Disable (or enable again) a user; a disabled user's open sessions end at their next request, and
    stay ended when the user is enabled again."""
    with transaction(engine) as s:
        row = _get(s, name)
        row.disabled = disabled
        if disabled:
            row.session_generation += 1
        _event(s, "user_disabled" if disabled else "user_enabled", now, actor, user=name)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        return [user_json(r) for r in s.execute(sa.select(UserRow).order_by(col(UserRow.name))).scalars()]


def session_of(user: dict[str, Any]) -> dict[str, Any]:
    """What a console session keeps of the user ``authenticate`` returned: the name and the generation."""
    return {"user": user["name"], "generation": user["session_generation"]}


def active_user(engine: Engine, name: str, generation: int) -> dict[str, Any] | None:
    """The user a session names, if it may still act: the user exists, is not disabled, and the session
    was made in their current ``generation`` (not ended by a logout, a new password or disabling)."""
    with transaction(engine) as s:
        row = s.execute(sa.select(UserRow).where(col(UserRow.name) == name)).scalar_one_or_none()
        if row is None or row.disabled or row.session_generation != generation:
            return None
        return user_json(row)


def end_sessions(engine: Engine, *, name: str, generation: int, now: dt.datetime, actor: str) -> bool:
    """Log out: end every session of user ``name`` made in ``generation`` (the logging-out session's),
    on every device, by advancing the generation. One conditional UPDATE: a session already ended
    (a copied cookie replayed after the logout) changes nothing and returns False."""
    with transaction(engine) as s:
        current = col(UserRow.session_generation)
        ended = s.connection().execute(sa.update(UserRow).where(col(UserRow.name) == name, current == generation)
                                       .values(session_generation=current + 1))
        if not ended.rowcount:
            return False
        _event(s, "user_logout", now, actor, user=name)
        return True


def authenticate(engine: Engine, *, name: str, password: str, now: dt.datetime, client: str = "") -> dict[str, Any]:
    """The user, when ``password`` is theirs and they may log in; else ``LoginRefused`` (and the failure
    counted). The hash is checked even for an unknown name, so timing does not tell names apart."""
    with transaction(engine) as s:
        row = s.execute(sa.select(UserRow).where(col(UserRow.name) == name[:80])).scalar_one_or_none()
        hasher = _hasher()
        valid, new_hash = hasher.verify_and_update(password, row.password_hash if row else _dummy_hash())
        utc = _utc(now)
        if row is None:
            raise LoginRefused()
        locked = row.locked_until is not None and row.locked_until.astimezone(dt.UTC) > utc
        if not valid or row.disabled or locked:
            if not valid:
                row.failed_logins += 1
                if row.failed_logins >= LOCK_AFTER:
                    row.locked_until, row.failed_logins = utc + LOCK_FOR, 0
                    _event(s, "user_locked", now, "", user=name, client=client, minutes=LOCK_FOR.seconds // 60)
            s.commit()
            raise LoginRefused()
        if new_hash is not None:
            row.password_hash = new_hash
        row.failed_logins, row.locked_until, row.last_login_at = 0, None, utc
        _event(s, "user_login", now, name, user=name, client=client)
        return user_json(row) | {"session_generation": row.session_generation}


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(secrets.token_urlsafe(16))


def secret_key(engine: Engine, name: str = "session") -> str:
    """DUBAN_SECRET_KEY, else a key duban made once and keeps in the database (so sessions and signed
    links survive a restart and every worker signs alike)."""
    given = os.environ.get("DUBAN_SECRET_KEY")
    if given:
        return given
    try:
        with transaction(engine) as s:
            if s.get(SecretRow, name) is None:
                s.add(SecretRow(name=name, value=secrets.token_urlsafe(48)))
    except sa.exc.IntegrityError:
        pass  # another process made it first: use theirs
    with transaction(engine) as s:
        row = s.get(SecretRow, name)
        assert row is not None
        return row.value


def visible_plans(engine: Engine, user: dict[str, Any]) -> list[str]:
    """The codes of the plans ``user`` may see: those whose office is one of theirs (all when they have none)."""
    with transaction(engine) as s:
        q = sa.select(col(PlanRow.code), col(UnitRow.name)).outerjoin(UnitRow, col(PlanRow.office_unit_id) == col(UnitRow.id))
        rows = s.execute(q.order_by(col(PlanRow.code))).all()
    offices = set(user["offices"])
    return [code for code, office in rows if not offices or office in offices]
