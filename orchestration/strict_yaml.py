"""YAML a person edits (config/quality.yml, config/operators.yml, governance/approvals.yml),
read so that a mistake is named instead of guessed around.

- A key written twice in one mapping is an error: YAML keeps the last silently, so a
  reviewer reading the first would approve what does not apply.
- A file that cannot be read, is not UTF-8, or is not YAML is an error that names the file
  and the line, never a traceback from the parser.
- The top level must be a mapping (or empty).

Errors are ``StrictYamlError`` (a ValueError); each caller wraps it in its own kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictYamlError(ValueError):
    pass


class _UniqueKeyLoader(_BASE):  # type: ignore[misc, valid-type]
    pass


def _mapping_without_repeats(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the base constructor says so
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} is written twice in one mapping (first on line {first.line + 1}): keep one",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)


def loads(text: str, source: str) -> Any:
    """Parse ``text`` (from ``source``, for messages) with repeated keys refused."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise StrictYamlError(f"{source}: not valid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise StrictYamlError(f"{source}: not valid YAML: {exc}") from None


def load_mapping(path: Path | str) -> dict:
    """The mapping at the top of the YAML file ``path`` ({} when the file is empty)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictYamlError(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except OSError as exc:
        raise StrictYamlError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    doc = loads(text, str(path))
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise StrictYamlError(f"{path}: the top level must be a mapping of keys to values, not a {type(doc).__name__}")
    return doc
