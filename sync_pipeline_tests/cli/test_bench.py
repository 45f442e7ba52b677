"""`sync-pipeline bench`: which parts a whole bench runs, each in a process of its own, and with what."""

from __future__ import annotations

import pytest

from sync_pipeline.cli import bench
from sync_pipeline.cli.main import build_parser


def _commands(monkeypatch: pytest.MonkeyPatch, *argv: str, failing: str = "") -> tuple[int, list[list[str]]]:
    called: list[list[str]] = []

    def call(command: list[str]) -> int:
        called.append(command)
        return 3 if failing and failing in command else 0

    monkeypatch.setattr(bench.subprocess, "call", call)
    monkeypatch.delenv("BENCH_DATABASE_URL", raising=False)
    status = bench.bench_command(build_parser().parse_args(["bench", *argv]))
    return status, [command[command.index("--only"):] for command in called]


def test_a_whole_bench_runs_the_sync_part_last_at_two_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    status, parts = _commands(monkeypatch)
    assert status == 0
    assert [part[1] for part in parts] == ["emulator", "pull", "push", "sync", "sync"]
    assert parts[3] == ["--only", "sync", "--people", "1000000", "--database", bench.DEFAULT_BENCH_DATABASE,
                        "--output", "data/bench/pull.json"]
    assert parts[4] == ["--only", "sync", "--people", "200000", "--database", "sqlite", "--output",
                        "data/bench/pull.json"]


def test_the_database_given_is_the_sync_part_s_postgresql_server(monkeypatch: pytest.MonkeyPatch) -> None:
    _, parts = _commands(monkeypatch, "--database", "postgresql+psycopg2://bench@db.example/postgres")
    assert parts[3][parts[3].index("--database") + 1] == "postgresql+psycopg2://bench@db.example/postgres"
    assert parts[4][parts[4].index("--database") + 1] == "sqlite"


def test_a_failing_part_stops_the_bench_with_its_status(monkeypatch: pytest.MonkeyPatch) -> None:
    status, parts = _commands(monkeypatch, failing="pull")
    assert status == 3 and [part[1] for part in parts] == ["emulator", "pull"]


def test_the_sync_part_alone_gets_its_size_database_and_file(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    from sync_pipeline.bench import sync_figures

    monkeypatch.setattr(sync_figures, "main", lambda *args: seen.update(args=args) or 0)
    args = build_parser().parse_args(["bench", "--only", "sync", "--people", "2000", "--database", "sqlite",
                                      "--output", "out/pull.json"])
    assert bench.bench_command(args) == 0
    assert seen["args"][:2] == (2000, "sqlite") and str(seen["args"][2]) == "out/sync.json"
