"""Service settings from the environment (``OPTRACK_*``), validated at start."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the service can be told. Built by ``get_settings()`` or by tests directly."""

    model_config = SettingsConfigDict(env_prefix="OPTRACK_", extra="ignore")

    data_dir: Path = Field(Path(".optrack"), description="where the SQLite file and blobs live")
    database_url: str = Field("", description="SQLAlchemy URL; default: SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_runs_per_experiment: int = Field(1000, ge=1)
    max_metric_batch: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    default_history_points: int = Field(1000, ge=10)
    max_history_points: int = Field(10_000, ge=10)
    max_page_size: int = Field(1000, ge=1)
    migrate_on_start: bool = True
    db_pool_size: int = Field(10, ge=1, description="database connections each API process "
                                                     "keeps open")
    db_max_overflow: int = Field(20, ge=0, description="connections a process may open beyond "
                                                        "the pool under load")
    lease_seconds: float = Field(30.0, gt=0, description="a worker's lease; heartbeats extend it")
    max_attempts: int = Field(3, ge=1, description="failed or expired attempts before a run fails")
    retry_backoff_seconds: float = Field(2.0, ge=0, description="base of the exponential backoff")
    lease_wait_seconds: float = Field(20.0, ge=0, description="longest long-poll of a lease call")
    max_checkpoint_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    max_dataset_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="a pushed dataset "
                                                                          "file's size")
    session_hours: float = Field(12.0, gt=0, le=24 * 30, description="dashboard sign-in lifetime")
    auth_rate_per_minute: int = Field(20, ge=1, description="sign-ins / token creations per "
                                                            "client address per minute")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per "
                                                "log line, one line per request")

    @model_validator(mode="after")
    def _default_database(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'optrack.db').as_posix()}"
        return self

    @field_validator("database_url")
    @classmethod
    def _no_memory_database(cls, url: str) -> str:
        if url.startswith("sqlite") and (":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite:/", "sqlite://")):
            raise ValueError("an in-memory SQLite database would vanish with the server; "
                             "give a file path")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def get_settings() -> Settings:
    return Settings()
