"""Asset names made from settings names: a list or a report becomes ``list_<slug>`` / ``report_<slug>``."""

from sync_pipeline.settings.names import slug


def list_asset_name(list_name: str) -> str:
    return "list_" + slug(list_name)


def report_asset_name(report_name: str) -> str:
    return "report_" + slug(report_name)
