"""`sync-pipeline bench`: the performance figures, each part in a process of its own."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_BENCH_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
# The sync part of a whole bench: (Leads, marketing database); None is the PostgreSQL server of the pull.
SYNC_SIZES: tuple[tuple[int, str | None], ...] = ((1_000_000, None), (200_000, "sqlite"))


def _count(value: str | int) -> int:
    """A number of Leads as `--scale` takes it ('demo' is the demo org's 3,000)."""
    return 3000 if value == "demo" else int(value)


def _postgres(args: argparse.Namespace) -> str:
    return str(args.database or os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE))


def _every_part(args: argparse.Namespace) -> int:
    """Each part in a process of its own, so that its peak memory is its own; the first failure stops the rest."""
    common = ["--leads", str(_count(args.leads)), "--output", args.output] + (
        ["--database", args.database] if args.database else [])
    parts = [["--only", part, *common] for part in ("emulator", "pull", "push")]
    parts += [["--only", "sync", "--people", str(people), "--database", database or _postgres(args),
               "--output", args.output] for people, database in SYNC_SIZES]
    for part in parts:
        status = subprocess.call([sys.executable, "-m", "sync_pipeline.cli", "bench", *part])
        if status:
            return status
    return 0


def bench_command(args: argparse.Namespace) -> int:
    if args.only is None:
        return _every_part(args)
    from sync_pipeline.bench import emulator_figures, pull_figures, push_figures, sync_figures

    output = Path(args.output)
    if args.only == "emulator":
        return emulator_figures.main(1_000_000)
    if args.only == "push":
        return push_figures.main(output.with_name("push.json"))
    if args.only == "sync":
        return sync_figures.main(_count(args.people), args.database or _postgres(args), output.with_name("sync.json"))
    return pull_figures.main(_count(args.leads), _postgres(args), output)
