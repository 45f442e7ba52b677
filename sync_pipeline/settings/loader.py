"""Loading ``data/sync.yaml``: read, parse, validate, and report every problem of the file in one error.

An empty section (``lists:`` with nothing under it) means that section's defaults. Duplicate keys are an error:
YAML would otherwise keep the last one silently, and half of a mapping would vanish without a word.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sync_pipeline.settings.errors import SettingsError, problem
from sync_pipeline.settings.model import SyncSettings
from sync_pipeline.settings.rules import cross_block_problems
from sync_pipeline.settings.translate import translate

NOT_FOUND_FIX = (
    "create it (start from data/sync.yaml in the repository), or set SYNC_SETTINGS to the path of your settings file"
)
YAML_FIX = (
    "fix the YAML at that line: indent with spaces, and quote values that contain ': ' or start with *, &, [ or {"
)


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A key given twice in one block."""


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys instead of keeping the last silently."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        first_line: dict[Hashable, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base loader reports unhashable keys itself
            if key in first_line:
                raise DuplicateKeyError(
                    problem=f"duplicate key {key!r} (first given at line {first_line[key]})",
                    problem_mark=key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return problem("(file)", f"not valid YAML: {exc}", YAML_FIX)
    mark = exc.problem_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, DuplicateKeyError):
        return problem(where, str(exc.problem), "give each key once in a block: merge the two entries or rename one")
    what = f"not valid YAML: {exc.problem}"
    if exc.context and exc.context_mark is not None:
        what += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return problem(where, what, YAML_FIX)


def parse_yaml(text: str, source: str) -> Any:
    """The YAML document in ``text``; syntax errors become a ``SettingsError`` with the line number."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        raise SettingsError(source, [_yaml_problem(exc)]) from None


def _validate_in_parts(data: dict[str, Any], source: str) -> tuple[SyncSettings, list[str], frozenset[str]]:
    """Validate; when blocks are broken, validate again without them so the other rules can still run."""
    try:
        return SyncSettings.model_validate(data), [], frozenset()
    except ValidationError as exc:
        problems, broken = translate(exc, data)
    healthy = {key: value for key, value in data.items() if key not in broken}
    try:
        return SyncSettings.model_validate(healthy), problems, broken
    except ValidationError:  # pragma: no cover - every block has defaults, so this only guards the unforeseen
        raise SettingsError(source, problems) from None


def parse_settings(data: Mapping[str, Any], source: str = "<settings>") -> SyncSettings:
    """The settings in ``data`` (a parsed YAML document); raises ``SettingsError`` listing every problem."""
    if not isinstance(data, Mapping):
        what = f"expected a block of settings sections, got {type(data).__name__}"
        raise SettingsError(source, [problem("(top level)", what, "start from data/sync.yaml in the repository")])
    present = {str(key): value for key, value in data.items() if value is not None}
    settings, problems, broken = _validate_in_parts(present, source)
    problems += cross_block_problems(settings, broken)
    if problems:
        raise SettingsError(source, list(dict.fromkeys(problems)))
    return settings


def load_settings(path: Path) -> SyncSettings:
    """Read and validate the settings file at ``path``; raises ``SettingsError`` listing every problem."""
    source = str(path)
    if not path.is_file():
        what = "is a directory, not a settings file" if path.is_dir() else "file not found"
        raise SettingsError(source, [problem(source, what, NOT_FOUND_FIX)])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsError(source, [problem(source, f"not UTF-8 text ({exc.reason})", "save it as UTF-8")]) from None
    data = parse_yaml(text, source)
    if data is None:
        raise SettingsError(
            source, [problem("(file)", "the file is empty", "start from data/sync.yaml in the repository")]
        )
    return parse_settings(data, source)
