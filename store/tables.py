"""SQLModel tables of duban's database: the system of record for plans, units and their history.

The schema itself is owned by Alembic (store/migrations); these classes describe it for queries.
Lists (aliases, emails, section path) are JSON columns: they are read and written whole, never
queried inside. Events are append-only.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# One MetaData for duban, with a naming convention so that Alembic migrations name constraints the
# same way on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _json(**kw: Any) -> Any:
    return Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, **kw))


class PlanRow(SQLModel, table=True):
    __tablename__ = "plan"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    title: str
    issuer: str = ""
    base_year: int
    start: dt.date | None = None
    end: dt.date | None = None
    timezone: str = "Asia/Shanghai"
    source: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime
    # The office that runs this plan and the leader at the top of its ladder, from the plan's own unit
    # directory (NULL: the database-wide flags on unit/official, as before revision 0004).
    office_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    top_leader_id: int | None = Field(default=None, foreign_key="official.id")
    # The plan's reporting cadence ({"every": "monthly", "day": 5}); NULL: the default (每月5日前報送).
    reporting: dict | None = Field(default=None, sa_type=sa.JSON)
    # The header's default_unit as the plan writes it: the lead unit of a task that names none (schema 0016).
    default_unit: str = ""


class UnitRow(SQLModel, table=True):
    """A unit. Named departments are shared by every plan (``plan_id`` NULL, one per key); a group
    (各鎮人民政府, kind ``group``) belongs to the plan whose directory defines it (one per plan and key),
    so two plans' groups of one name keep their own addresses. ``plan_id`` has no foreign key: the plan
    row already refers to a unit (its office), and a cycle would leave the tables without an order."""

    __tablename__ = "unit"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "key", name="uq_unit_plan_id_key"),
        sa.Index("uq_unit_shared_key", "key", unique=True, sqlite_where=sa.text("plan_id IS NULL"),
                 postgresql_where=sa.text("plan_id IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # script-folded name
    plan_id: int | None = Field(default=None, index=True)  # the plan a group belongs to; NULL: shared
    kind: str = "department"
    aliases: list = _json()
    head_name: str = ""
    head_title: str = ""
    head_email: str = ""
    emails: list = _json()
    member_of: list = _json()
    is_office: bool = False
    # Group robots (DingTalk, WeCom, Feishu): [{kind, webhook, secret_env}] (matrix.directory.Robot); the
    # signing secret itself is never stored, only the name of the environment variable holding it.
    channels: list = _json(server_default="[]")


class OfficialRow(SQLModel, table=True):
    __tablename__ = "official"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    title: str = ""
    email: str = ""
    is_top_leader: bool = False  # the directory's top_leader: receives level-3 escalations


class TaskRow(SQLModel, table=True):
    __tablename__ = "task"
    __table_args__ = (sa.UniqueConstraint("plan_id", "code", name="uq_task_plan_id_code"),
                      sa.Index("ix_task_lead_unit_plan", "lead_unit_id", "plan_id"))  # a unit's led tasks in a plan

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    code: str = Field(max_length=100)
    position: int = 0  # order in the plan
    title: str
    target: str = ""
    note: str = ""  # 備註 as the plan writes it (schema 0013)
    section: list = _json()
    lead_unit_id: int = Field(foreign_key="unit.id", index=True)
    deadline_text: str = ""
    veto: bool = False
    source_file: str = ""
    source_line: int | None = None
    source_sheet: str = ""  # the worksheet, when the file's tasks came from several (schema 0013)
    archived_at: dt.datetime | None = None
    # The day supervision of it began (the import that created it); NULL: from the start (before 0006).
    supervised_from: dt.date | None = None


class TaskOfficialRow(SQLModel, table=True):
    __tablename__ = "task_official"

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    position: int = Field(primary_key=True)
    official_id: int = Field(foreign_key="official.id", index=True)
    title: str = ""  # the title as written in this task


TASK_UNIT_SUPPORTING = "supporting"  # task_unit.role
TASK_UNIT_CO_LEAD = "co_lead"


class TaskUnitRow(SQLModel, table=True):
    """A unit of a task besides its lead unit: a supporting unit (配合單位, role ``supporting``) or a
    co-lead unit (共同牽頭, role ``co_lead``); ``position`` orders each role's units."""

    __tablename__ = "task_unit"

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True, index=True)
    position: int = 0
    role: str = Field(default=TASK_UNIT_SUPPORTING, sa_column=sa.Column(
        sa.String(20), nullable=False, server_default=TASK_UNIT_SUPPORTING))


def _num() -> Any:
    return Field(default=None, sa_column=sa.Column(sa.Numeric(18, 4), nullable=True))


class SupervisedMixin(SQLModel):
    """Supervision state shared by milestones and recurrence instances (written by the engine)."""

    extended_due: dt.date | None = None  # an approved extension (延期); ``due`` stays the plan's date
    closed_at: dt.datetime | None = None  # 辦結
    closed_by: str = ""
    evidence: str = ""
    last_report_at: dt.datetime | None = None
    first_overdue_on: dt.date | None = None
    ladder: list | None = Field(default=None, sa_type=sa.JSON)  # the escalation ladder, frozen when first overdue


class MilestoneRow(SupervisedMixin, table=True):
    __tablename__ = "milestone"
    __table_args__ = (sa.UniqueConstraint("task_id", "seq", name="uq_milestone_task_id_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    seq: int
    due: dt.date = Field(index=True)
    start: dt.date | None = None
    quantity: Decimal | None = _num()
    measure: str | None = None
    label: str = ""
    archived_at: dt.datetime | None = None
    done_quantity: Decimal | None = _num()  # cumulative, as last reported
    done_percent: Decimal | None = _num()
    supervised_from: dt.date | None = None  # the import that created it; NULL: from the start


class RecurrenceRow(SQLModel, table=True):
    __tablename__ = "recurrence"
    __table_args__ = (sa.UniqueConstraint("task_id", "seq", name="uq_recurrence_task_id_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    seq: int
    freq: str
    rule: str = ""
    anchor: str | None = None
    min_count: int | None = None
    min_amount: Decimal | None = Field(default=None, sa_column=sa.Column(sa.Numeric(18, 4), nullable=True))
    amount_unit: str | None = None
    start: dt.date | None = None
    until: dt.date | None = None
    label: str = ""
    archived_at: dt.datetime | None = None
    supervised_from: dt.date | None = None  # the import that created it; NULL: from the start
    # 持續推進 / 長期堅持: ongoing work, reporting progress on the plan's cadence (revision 0009)
    ongoing: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    beneficiary: str | None = None  # the household or village owed this series (每戶…); NULL: owed once


class StageRow(SQLModel, table=True):
    __tablename__ = "stage"
    __table_args__ = (sa.UniqueConstraint("plan_id", "code", name="uq_stage_plan_id_code"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    code: str = Field(max_length=100)
    position: int = 0
    kind: str = "stage"
    title: str = ""
    text: str = ""
    deadline_text: str = ""
    milestones: list = _json()  # [{"due": "2015-12-31", "start": null}]
    units: list = _json()
    archived_at: dt.datetime | None = None


class EventRow(SQLModel, table=True):
    """Append-only history: imports, task changes and, later, progress, notices and escalations."""

    __tablename__ = "event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    kind: str = Field(max_length=60)
    # Events that a sweep may record more than once (two sweeps at once, a rerun) carry a key and are
    # inserted with ON CONFLICT DO NOTHING; events a person causes have none.
    key: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True, unique=True))
    plan_id: int | None = Field(default=None, foreign_key="plan.id", index=True)
    task_id: int | None = Field(default=None, foreign_key="task.id", index=True)
    actor: str = ""
    data: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class RecurrenceInstanceRow(SupervisedMixin, table=True):
    """One period of a recurring obligation (每月…不少於1次), created by the sweep as periods come due."""

    __tablename__ = "recurrence_instance"
    __table_args__ = (sa.UniqueConstraint("recurrence_id", "due", name="uq_recurrence_instance_recurrence_id_due"),)

    id: int | None = Field(default=None, primary_key=True)
    recurrence_id: int = Field(foreign_key="recurrence.id", index=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    period_start: dt.date
    due: dt.date = Field(index=True)
    done_count: int = 0
    done_amount: Decimal | None = _num()


class ProgressReportRow(SQLModel, table=True):
    """A unit's report (進展報送) or closing (辦結) of a milestone or a recurrence instance. Append-only."""

    __tablename__ = "progress_report"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    instance_id: int | None = Field(default=None, foreign_key="recurrence_instance.id", index=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    kind: str = "report"  # "report" | "close"
    done_quantity: Decimal | None = _num()
    done_percent: Decimal | None = _num()
    done_count: int | None = None
    done_amount: Decimal | None = _num()
    note: str = ""
    evidence: str = ""
    reported_by: str = ""
    reported_on: dt.date
    recorded_at: dt.datetime
    source: str = ""
    # Acceptance (schema 0026): ``counted`` (counts at once: the lead or a co-lead unit, the office's own
    # entry), ``pending`` (a supporting unit's part through its link, 待确认: counts nothing yet),
    # ``accepted`` (by the lead unit or the office: counts from ``counted_on``) or ``refused``.
    state: str = Field(default="counted", sa_column=sa.Column(sa.String(20), nullable=False, server_default="counted",
                                                              index=True))
    decided_at: dt.datetime | None = None
    decided_by: str = ""
    decision_note: str = ""
    counted_on: dt.date | None = None  # an accepted part: the plan's day it was accepted (it counts from then)


class ExtensionRow(SQLModel, table=True):
    """An extension request (延期申請): filed before due, decided by the office."""

    __tablename__ = "extension"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    instance_id: int | None = Field(default=None, foreign_key="recurrence_instance.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    reason: str
    old_due: dt.date
    new_due: dt.date
    requested_on: dt.date
    requested_by: str = ""
    status: str = "pending"  # pending | approved | refused
    decided_on: dt.date | None = None
    decided_by: str = ""
    decision_note: str = ""


class RulesVersionRow(SQLModel, table=True):
    """A version of the policy or scoring rules (the packaged file merged with the office's), in force
    from ``from_date`` until the next version of its kind."""

    __tablename__ = "rules_version"
    __table_args__ = (sa.UniqueConstraint("kind", "number", name="uq_rules_version_kind_number"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # policy | scoring
    number: int  # 1, 2 … per kind
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    sha256: str
    from_date: dt.date
    stored_at: dt.datetime


class SweepRow(SQLModel, table=True):
    """One run of the sweep: when, for which day, what it wrote."""

    __tablename__ = "sweep"

    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date = Field(index=True)
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "running"  # running | done | failed | interrupted (its process stopped: the lease ran out)
    counts: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    host: str = ""
    error: str = ""
    lease_until: dt.datetime | None = None  # renewed (real clock) while the sweep runs


class NoticeRow(SQLModel, table=True):
    """A planned notice in the outbox. ``key`` makes planning idempotent: one row per notice, ever."""

    __tablename__ = "notice"
    __table_args__ = (  # the console's overview counts on these alone (covering: no row is read)
        sa.Index("ix_notice_plan_kind_level", "plan_id", "kind", "level"),
        sa.Index("ix_notice_plan_status", "plan_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    series: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, index=True))  # what an acknowledgement stops
    kind: str = Field(max_length=20)  # reminder | chase | escalation
    level: int = 0
    plan_id: int = Field(foreign_key="plan.id", index=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    instance_id: int | None = Field(default=None, foreign_key="recurrence_instance.id", index=True)
    due: dt.date
    days: int = 0  # working days before due (reminder) or overdue (chase, escalation)
    planned_for: dt.date = Field(index=True)
    recipients: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))  # To: [{role, name}]
    cc: list = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    sweep_id: int | None = Field(default=None, foreign_key="sweep.id", index=True)
    created_at: dt.datetime
    # pending | sending | sent | held (its 主送 has no address yet, or waits in a replay's held message) | failed
    # | undeliverable (nothing to deliver to) | superseded; ``last_error`` says why a held one waits
    status: str = Field(default="pending", max_length=20, index=True)
    attempts: int = 0
    last_error: str = ""
    sent_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str = ""
    data: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class MessageRow(SQLModel, table=True):
    """One email to one address, built once and stored whole, so a resend is byte for byte the same.

    ``key`` is derived from the deliveries it carries; ``message_id`` from the key, so a message
    sent again after a crash carries the same Message-ID.
    """

    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, unique=True))
    address: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # every recipient, comma-separated
    message_id: str = Field(max_length=300)
    subject: str = ""
    status: str = Field(default="queued", max_length=20, index=True)  # pending | sending | sent | failed | held (a replay's)
    # The channel that carries it: email (SMTP or .eml files), or a group robot (dingtalk | wecom | feishu),
    # whose body is then a JSON envelope (notifications.channels.robots), not an RFC 5322 message.
    channel: str = Field(default="email", sa_column=sa.Column(sa.String(20), nullable=False, server_default="email"))
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str = ""
    created_at: dt.datetime
    sent_at: dt.datetime | None = None
    notices: int = 0
    body: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))  # the RFC 5322 message


class DeliveryRow(SQLModel, table=True):
    """One notice to one recipient (主送 or 抄送): resolved to an address, or held until the directory has one."""

    __tablename__ = "delivery"
    __table_args__ = (sa.UniqueConstraint("notice_id", "recipient_role", "recipient_name", "address",
                                          name="uq_delivery_notice_id_recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    notice_id: int = Field(foreign_key="notice.id", index=True)
    recipient_role: str = Field(max_length=20)  # unit | unit_head | official | office | office_head | top_leader
    recipient_name: str = Field(default="", max_length=200)
    display_name: str = ""
    address: str = Field(default="", max_length=320)  # "" when nobody has an address yet: held
    is_cc: bool = False  # 抄送 (Cc) rather than 主送 (To)
    # pending | queued | sent | failed | held (no address yet, or in a replay's held message); undeliverable
    # in databases before issue 12 (no address: resolved again like held)
    status: str = Field(default="pending", max_length=20, index=True)
    message_pk: int | None = Field(default=None, foreign_key="message.id", index=True)
    refusals: int = 0  # times the server refused this recipient alone (4xx) while the others got the message
    last_error: str = ""
    created_at: dt.datetime


class CalendarDayRow(SQLModel, table=True):
    """A day off (放假) or make-up working day (調休上班) imported from a State Council notice."""

    __tablename__ = "calendar_day"

    id: int | None = Field(default=None, primary_key=True)
    day: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False, unique=True))
    year: int = Field(index=True)  # the notice's year (元旦 of 2023 starts on 2022-12-31)
    working: bool  # True: a make-up working day; False: a day off
    name: str = Field(max_length=100)
    source: str = Field(default="", max_length=500)  # the notice's title or the file it was read from
    imported_at: dt.datetime


class UserRow(SQLModel, table=True):
    """A console user (`duban user add`): office staff, supervisors and viewers (leaders who read).

    The password is kept only as an Argon2 hash. ``offices`` names the office units whose plans the user
    sees; empty means every office (a single-office install). Failed logins in a row lock the user out
    for a while (``locked_until``). A console session carries the user's ``session_generation`` when it
    was made; logging out, a new password and disabling the user advance it, which ends every session
    made before (schema 0023)."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(80), nullable=False, unique=True))
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=20)  # office | supervisor | viewer
    offices: list = _json()
    disabled: bool = False
    created_at: dt.datetime
    failed_logins: int = 0
    locked_until: dt.datetime | None = None
    last_login_at: dt.datetime | None = None
    session_generation: int = 0


class SecretRow(SQLModel, table=True):
    """Secrets duban makes for itself (the key that signs console sessions), kept so they survive a restart."""

    __tablename__ = "app_secret"

    name: str = Field(sa_column=sa.Column(sa.String(40), primary_key=True))
    value: str = Field(max_length=200)


class ItemLightRow(SQLModel, table=True):
    """An open or closed item's light as of a day (``workflows.lights_service``): what the console's pages
    count and filter on, so a page reads it instead of counting working days for every item per request."""

    __tablename__ = "item_light"
    __table_args__ = (sa.UniqueConstraint("item_kind", "item_id", name="uq_item_light_item_kind"),
                      # the task list's date and overdue filters (schema 0022)
                      # with the light: the overview's counts of open items read the index alone (covering)
                      sa.Index("ix_item_light_plan_due", "plan_id", "due", "light"),
                      sa.Index("ix_item_light_plan_overdue", "plan_id", "working_days_overdue", "light"))

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    item_kind: str = Field(max_length=20)  # milestone | instance
    item_id: int
    light: str = Field(max_length=10)
    ongoing: bool = False
    due: dt.date
    working_days_overdue: int = 0


class TaskLightRow(SQLModel, table=True):
    """A task's light as of a day: its worst open item's; ``ongoing`` when every open item is ongoing work."""

    __tablename__ = "task_light"
    __table_args__ = (sa.Index("ix_task_light_plan_light", "plan_id", "light"),)  # the overview's counts by light

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    plan_id: int = Field(foreign_key="plan.id", index=True)
    light: str = Field(max_length=10, index=True)
    next_due: dt.date | None = None
    working_days_overdue: int = 0
    # The task's code as a key that sorts 3.2.10 after 3.2.9 (schema 0022): the list sorts in SQL
    order_key: str = Field(default="", sa_column=sa.Column(sa.String(400), nullable=False, server_default=""))
    items: int = 0  # its supervised items (closed ones too) and those still open; of them, milestones (0022)
    open_items: int = 0
    milestones: int = 0
    open_milestones: int = 0


class LightStateRow(SQLModel, table=True):
    """For each plan, what its stored lights were computed from: the day, the last event seen, and stamps
    of the rules and the calendar. Any of them moving makes the lights stale (``lights_service.fresh``)."""

    __tablename__ = "light_state"

    plan_id: int = Field(foreign_key="plan.id", primary_key=True)
    as_of: dt.date
    event_mark: int = 0
    rules_mark: str = Field(default="", max_length=64)


class TaskHoldRow(SQLModel, table=True):
    """A task whose notices the office holds (暫停催辦, schema 0017): while the row exists the sweep writes
    no notice for the task and delivery plans none of its pending notices into a message. Resuming
    deletes the row; both are events (``task.notices_held``, ``task.notices_resumed``)."""

    __tablename__ = "task_hold"

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    held_at: dt.datetime
    held_by: str = Field(default="", max_length=80)
    reason: str = ""


class EvidenceFileRow(SQLModel, table=True):
    """An evidence file (佐證材料), stored once by its content's SHA-256 under the data folder
    (``store.evidence``); ``size`` in bytes, ``content_type`` as checked from its first bytes."""

    __tablename__ = "evidence_file"

    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    size: int
    content_type: str = Field(max_length=120)
    stored_at: dt.datetime


class ClosingRequestRow(SQLModel, table=True):
    """A closing request (辦結申請): a lead or co-lead unit asks the office to close a milestone or
    period; the office reviews it (複核) and closes it (辦結) or returns it (退回, with a reason)."""

    __tablename__ = "closing_request"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id", index=True)
    instance_id: int | None = Field(default=None, foreign_key="recurrence_instance.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    note: str = ""
    requested_at: dt.datetime
    requested_by: str = ""
    status: str = Field(default="pending", max_length=20, index=True)  # pending | closed | returned
    decided_at: dt.datetime | None = None
    decided_by: str = ""
    decision_note: str = ""  # the office's note on closing, or the reason it was returned


class ClosingEvidenceRow(SQLModel, table=True):
    """A file of a closing request, under the name it was sent with (one stored file may serve several)."""

    __tablename__ = "closing_evidence"

    request_id: int = Field(foreign_key="closing_request.id", primary_key=True)
    position: int = Field(primary_key=True)
    sha256: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("evidence_file.sha256"), nullable=False, index=True))
    name: str = Field(max_length=255)


class ProgressEvidenceRow(SQLModel, table=True):
    """A file sent with a progress report (進展報送), under the name it was sent with (stored once by its
    contents in ``evidence_file``, as closing requests' files are)."""

    __tablename__ = "progress_evidence"

    report_id: int = Field(foreign_key="progress_report.id", primary_key=True)
    position: int = Field(primary_key=True)
    sha256: str = Field(sa_column=sa.Column(sa.String(64), sa.ForeignKey("evidence_file.sha256"), nullable=False, index=True))
    name: str = Field(max_length=255)


class ReportStateRow(SQLModel, table=True):
    """A weekly report's review state, when the policy asks for approval (``reports.require_approval``):
    written as a draft by the weekly job (or `duban report weekly`, the console), mailed only once a
    supervisor marks it approved (審核通過). ``files`` are the paths written (html, md, docx, svg);
    ``digest`` the content reviewed (a report written again with other content is a draft again)."""

    __tablename__ = "report_state"

    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False, unique=True))
    plan: str | None = Field(default=None, max_length=80)  # None: every plan
    status: str = Field(max_length=20)  # draft | approved
    subject: str = Field(max_length=500)
    language: str = Field(max_length=20)
    digest: str = Field(max_length=64)
    files: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: dt.datetime
    created_by: str = Field(default="", max_length=80)
    approved_at: dt.datetime | None = None
    approved_by: str | None = Field(default=None, max_length=80)
    mail_status: str | None = Field(default=None, max_length=20)  # the approved report's mail: sent | queued | …


class LinkRevocationRow(SQLModel, table=True):
    """A unit's signed link the office revoked (`duban links revoke`, schema 0020). Links are not stored:
    each is signed from its plan, unit and day (``workflows.link_service``); a revoked one is refused."""

    __tablename__ = "link_revocation"

    link_id: str = Field(sa_column=sa.Column(sa.String(60), primary_key=True))  # plan-unit-YYYYMMDD
    plan_id: int = Field(foreign_key="plan.id")
    unit_id: int = Field(foreign_key="unit.id", index=True)
    issued_on: dt.date
    revoked_at: dt.datetime
    revoked_by: str = Field(default="", max_length=80)
    reason: str = ""


class ReportScoreRow(SQLModel, table=True):
    """A unit's score and rank in a weekly report as written (schema 0022): what the unit page's score trend
    shows, so it says what the office circulated, with the scoring rules of that report. ``scope``: the
    report's plan, "" for a report of every plan (the weekly job's). Written again, a report replaces its
    rows."""

    __tablename__ = "report_score"
    __table_args__ = (sa.UniqueConstraint("as_of", "scope", "unit", name="uq_report_score_as_of_scope_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    as_of: dt.date
    scope: str = Field(default="", max_length=80)
    unit: str = Field(sa_column=sa.Column(sa.String(200), nullable=False, index=True))
    score: Decimal = Field(sa_column=sa.Column(sa.Numeric(18, 4), nullable=False))
    rank: int | None = None
    units: int = 0  # how many units the report ranked
    rules: str = Field(default="", max_length=64)  # the scoring version's sha256 ("" when none was named)
    written_at: dt.datetime
