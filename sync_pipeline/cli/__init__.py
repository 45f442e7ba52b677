"""Every `sync-pipeline ...` command: the argparse entry (:mod:`.main`) and one module per command."""
