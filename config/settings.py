"""duban's settings, read once from the environment (``DUBAN_*``) and an optional ``.env`` file.

Built once per process by ``workflows.bootstrap.load_settings`` (the CLI, `duban run`, a flow run, the
demo) and passed down; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from duban.config.file_mode import parse_mode

if TYPE_CHECKING:
    from duban.matrix.limits import InputLimits

PACKAGE_DIR = Path(__file__).parent
EXAMPLE_PLANS = PACKAGE_DIR / "plans"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DUBAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/duban.db",
        description="SQLAlchemy URL of duban's database: sqlite:///path (default ./var/duban.db) or postgresql+psycopg://…",
    )
    config_dir: Path = Field(default=Path("duban-config"), description="Folder with policy, schedules, templates and plans")
    timezone: str = Field(default="Asia/Shanghai", description="Local time zone of the office; due dates end at local midnight")
    language: str = Field(default="zh-Hans", description="Language of notices and reports: zh-Hans, zh-Hant or en")

    # Mail. Without an SMTP URL (the embedded default) messages are written as .eml files.
    smtp_url: str | None = Field(default=None, description="smtp://user@host:port, smtp+starttls://…, smtps://… (add ?cafile=/path/ca.pem to trust a private CA, or ?verify=false to skip the check)")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password; only ever read from the environment")
    smtp_timeout: float = Field(default=30.0, description="Seconds to wait for the SMTP server")
    smtp_concurrency: int = Field(default=4, ge=1, le=32, description="SMTP connections used at once")
    messages_per_minute: int = Field(default=600, ge=0, description="Sending rate limit (0: none)")
    mail_from: str = Field(default="督辦系統 <duban@localhost>", description="From address of every message")
    outbox_dir: Path = Field(default=Path("var/outbox"), description="Where .eml files go when no SMTP server is configured")
    delivery_mode: str = Field(default="digest", pattern="^(digest|per_notice)$",
                               description="digest: one message per recipient per run; per_notice: one per notice")
    retry_base_seconds: int = Field(default=60, ge=1, description="First retry delay after a 4xx or a connection error; doubles each time")
    max_attempts: int = Field(default=8, ge=1, description="Attempts before a message is given up as failed")
    allow_replay_mail: bool = Field(default=False, description="Send by SMTP the notices a replayed sweep planned (its "
                                    "as-of more than a day from the day it ran); without it they stay held in the outbox")

    # Evidence files of closing requests (辦結申請), stored once by their SHA-256 (store.evidence).
    evidence_dir: Path = Field(default=Path("var/evidence"), description="Where evidence files (佐證材料) are kept")
    evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest evidence file in bytes (20 MB)")

    # The console's published address (https://duban.example.gov.cn): notices then carry each recipient unit's
    # signed link {public_url}/u/{token} (workflows.link_service); without it the letters carry none.
    public_url: str | None = Field(default=None, description="The address the office publishes `duban serve` at "
                                   "(https://…); notices then carry each unit's signed link to answer online")

    # Files and folders duban creates (database, outbox, reports, config): private unless configured.
    file_mode: str = Field(default="0600", description="Octal mode of the files duban creates; its folders get the "
                                                       "same plus execute where read is allowed (0600 → 0700, 0640 → 0750)")

    # Input limits (matrix.limits.InputLimits): the most duban reads from one plan, directory, sheet or document.
    limit_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1, description="Largest input file in bytes (an .xlsx/.docx also when unpacked)")
    limit_cell_chars: int = Field(default=32_767, ge=1, description="Longest cell or YAML value in characters")
    limit_rows: int = Field(default=100_000, ge=1, description="Most rows of a sheet, entries of a YAML list, lines of a document")
    limit_columns: int = Field(default=200, ge=1, description="Most columns of a sheet")
    limit_yaml_depth: int = Field(default=50, ge=1, description="Deepest nesting of YAML mappings and lists")
    limit_yaml_aliases: int = Field(default=100, ge=0, description="Most uses of YAML aliases (*name) in one file")

    def input_limits(self) -> InputLimits:
        """The input limits the loaders are given (they read no settings themselves)."""
        from duban.matrix.limits import InputLimits

        return InputLimits(
            file_bytes=self.limit_file_bytes, cell_chars=self.limit_cell_chars, rows=self.limit_rows,
            columns=self.limit_columns, yaml_depth=self.limit_yaml_depth, yaml_aliases=self.limit_yaml_aliases,
        )

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> str | None:
        text = str(value or "").strip().rstrip("/")
        if not text:
            return None
        if not text.startswith(("https://", "http://")) or any(c.isspace() for c in text) or "?" in text or "#" in text:
            raise ValueError(f"DUBAN_PUBLIC_URL {text!r}: an address such as https://duban.example.gov.cn "
                             "(http or https, no spaces, query or fragment)")
        return text

    @field_validator("file_mode", mode="before")
    @classmethod
    def _octal_mode(cls, value: object) -> str:
        return f"0{parse_mode(value):03o}"
