"""Reading a config: YAML that refuses duplicate keys, validation, and structure files resolved next to it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from aiida_mlip_autopipe.candidates.structure_file import check_structure_file
from aiida_mlip_autopipe.config.errors import MISSING, ConfigError, boolean_problems, problems_from

if TYPE_CHECKING:
    from aiida_mlip_autopipe.config.model import MLIPConfig

__all__ = ('load_config', 'parse_config')


def parse_config(data: Any, source: str | None = None) -> MLIPConfig:
    """Validate a mapping (from YAML or a stored ``Dict``) into an :class:`MLIPConfig`."""
    from aiida_mlip_autopipe.config.model import MLIPConfig

    if not isinstance(data, Mapping):
        raise ConfigError([('', data, 'the configuration must be a mapping of sections (target:, dft:, ...)')], source)
    booleans = boolean_problems(MLIPConfig, data)
    try:
        config = MLIPConfig.model_validate(dict(data))
    except ValidationError as exc:
        flagged = {loc for loc, _, _ in booleans}
        problems = [p for p in problems_from(exc, data, MLIPConfig) if p[0] not in flagged]
        raise ConfigError(booleans + problems, source) from None
    if booleans:
        raise ConfigError(booleans, source)
    return config


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    PyYAML keeps the last of two equal keys without a word, so a second ``dft:`` section
    would silently replace the first.
    """


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == 'tag:yaml.org,2002:merge':
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key; the schema rejects it later
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f'key {key!r} appears twice in one mapping; keep one of them', key_node.start_mark
            )
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def load_config(path: str | Path) -> MLIPConfig:
    """Read and validate a YAML config file; relative structure files resolve against it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([('', str(path), 'config file not found; give the path to a YAML file')], str(path))
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [('', MISSING, f'not a text file: byte {exc.start} is not UTF-8; give a YAML file')], str(path)
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        raise ConfigError(
            [('', MISSING, f'not valid YAML{where}: {getattr(exc, "problem", exc)}')], str(path)
        ) from None
    if data is None:
        raise ConfigError([('', MISSING, 'the file is empty; start from examples/si/config.yaml')], str(path))
    config = parse_config(data, str(path))
    target = config.target
    if target.structure_file is not None:
        resolved = Path(target.structure_file).expanduser()
        if not resolved.is_absolute():
            resolved = (path.parent / resolved).resolve()
        # An explicit composition must match a structure file that already holds several species.
        composition = target.composition if 'composition' in target.model_fields_set else None
        problems = check_structure_file(resolved, target.elements, composition=composition)
        if problems:
            raise ConfigError([('target.structure_file', target.structure_file, p) for p in problems], str(path))
        target.structure_file = str(resolved)
    return config
