"""duban's settings, read once from the environment (``DUBAN_*``) and an optional ``.env`` file.

Built by the CLI (or a flow's entry point) and passed down; nothing reads the environment at import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
