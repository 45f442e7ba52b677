"""`sync-pipeline bench`: the performance figures, each part in a process of its own."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

DEFAULT_BENCH_DATABASE = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def bench_command(args: argparse.Namespace) -> int:
    """Each part runs in a process of its own, so that its peak memory is its own."""
    leads = 3000 if args.leads == "demo" else int(args.leads)
    if args.only is None:
        common = ["--leads", str(leads), "--output", args.output] + (["--database", args.database] if args.database
                                                                      else [])
        for part in ("emulator", "pull", "push"):
            status = subprocess.call([sys.executable, "-m", "sync_pipeline.cli", "bench", "--only", part, *common])
            if status:
                return status
        return 0
    from sync_pipeline.bench import emulator_figures, pull_figures, push_figures

    if args.only == "emulator":
        return emulator_figures.main(1_000_000)
    if args.only == "push":
        return push_figures.main(Path(args.output).with_name("push.json"))
    database = args.database or os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE)
    return pull_figures.main(leads, database, Path(args.output))
