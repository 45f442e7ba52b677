"""Names made from what people type: a lower-case slug of letters, digits and underscores."""

import re

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, *, separator: str = "_") -> str:
    """``"SFDC Master Leads"`` → ``"sfdc_master_leads"``: lower case, each run of other characters one separator."""
    return _NOT_SLUG.sub(separator, text.strip().lower()).strip(separator)
