"""`python -m sync_pipeline.cli ...`: the same as the `sync-pipeline` command."""

import sys

from sync_pipeline.cli.main import main

sys.exit(main())
