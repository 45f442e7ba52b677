"""The database URL, engine configuration per backend, and passwords kept out of messages."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from sync_pipeline.store.engine import DEFAULT_SQLITE_URL, default_database_url, make_engine
from sync_pipeline.store.migrate import upgrade_to_head
from sync_pipeline_tests.store.helpers import postgres_schema_url

PASSWORD = "S3cret-Pa55word"


def _everything_said_about(exc: BaseException) -> str:
    """The message, the chained causes and the whole traceback, as a user would see them."""
    return "".join(traceback.format_exception(exc))


def test_default_url_honours_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETING_DB_URL", "postgresql://analyst@db.internal/marketing")

    assert default_database_url() == "postgresql://analyst@db.internal/marketing"


def test_default_url_is_the_sqlite_file_under_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MARKETING_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    assert default_database_url() == DEFAULT_SQLITE_URL == "sqlite:///data/marketing.db"
    assert (tmp_path / "data").is_dir()


def test_empty_environment_value_means_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MARKETING_DB_URL", "  ")
    monkeypatch.chdir(tmp_path)

    assert default_database_url() == DEFAULT_SQLITE_URL


def test_make_engine_without_url_uses_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MARKETING_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    engine = make_engine()

    assert engine.url.database == "data/marketing.db"
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["postgresql://u:pw@db.internal:5432/marketing", "postgres://u:pw@db.internal:5432/marketing"],
)
def test_bare_postgresql_urls_use_psycopg2(url: str) -> None:
    engine = make_engine(url)

    assert engine.url.drivername == "postgresql+psycopg2"
    assert (engine.url.host, engine.url.port, engine.url.database) == ("db.internal", 5432, "marketing")
    engine.dispose()


def test_explicit_postgresql_driver_is_kept() -> None:
    engine = make_engine("postgresql+psycopg2://u@db.internal/marketing")

    assert engine.url.drivername == "postgresql+psycopg2"
    engine.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_sqlite_ddl_rolls_back_with_its_transaction(sqlite_engine: sa.Engine) -> None:
    """The sqlite3 driver's legacy mode would have committed the CREATE TABLE on its own."""
    with sqlite_engine.connect() as conn, conn.begin() as transaction:
        conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY)")
        transaction.rollback()

    assert sa.inspect(sqlite_engine).get_table_names() == []


def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'marketing.db'}")
    upgrade_to_head(engine)

    assert (tmp_path / "nested" / "dir" / "marketing.db").is_file()
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_sessions_run_in_utc(postgres_engine: sa.Engine) -> None:
    with postgres_engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "UTC"


@pytest.mark.parametrize(
    "url",
    [
        f"nosuchdb://marketing:{PASSWORD}@db.internal/marketing",
        f"postgresql+nosuchdriver://marketing:{PASSWORD}@db.internal/marketing",
        f"postgresql://marketing:{PASSWORD}@db.internal:not-a-port/marketing",
        f"://marketing:{PASSWORD}@db.internal/marketing",
    ],
)
def test_a_bad_url_is_reported_without_its_password(url: str) -> None:
    with pytest.raises(ValueError) as raised:
        make_engine(url)

    assert PASSWORD not in _everything_said_about(raised.value)


def test_engine_and_its_url_never_show_the_password(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sync_pipeline"):
        engine = make_engine(f"postgresql://marketing:{PASSWORD}@db.internal/marketing")

    assert engine.url.password == PASSWORD  # kept for connecting...
    assert PASSWORD not in repr(engine)  # ...but never shown
    assert PASSWORD not in str(engine.url)
    assert PASSWORD not in caplog.text
    assert "marketing:***@db.internal" in caplog.text
    engine.dispose()


@pytest.mark.postgres
def test_migrating_with_a_password_logs_no_password(
    postgres_url: str, postgres_schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The test server trusts local connections, so any password connects; none may reach the logs."""
    engine = make_engine(postgres_schema_url(postgres_url, postgres_schema, password=PASSWORD))
    with caplog.at_level(logging.DEBUG):
        upgrade_to_head(engine)

    assert "migrating" in caplog.text
    assert PASSWORD not in caplog.text
    engine.dispose()


def test_an_unreachable_server_error_carries_no_password() -> None:
    engine = make_engine(f"postgresql://marketing:{PASSWORD}@127.0.0.1:1/marketing?connect_timeout=2")

    with pytest.raises(sa.exc.OperationalError) as raised:
        upgrade_to_head(engine)

    assert PASSWORD not in _everything_said_about(raised.value)
    engine.dispose()
