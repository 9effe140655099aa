"""Write the configuration reference (one table per section) from the pydantic models."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel


def _type_name(annotation) -> str:
    text = repr(annotation) if typing.get_origin(annotation) else getattr(annotation, '__name__', repr(annotation))
    # Section models live in their stage's package (aiida_mlip_autopipe.<stage>.config): show the class name only.
    text = re.sub(r'aiida_mlip_autopipe(\.\w+)*\.(?=[A-Z])', '', text)
    return text.replace('typing.', '').replace('|', '\\|')


def _sections(model: type[BaseModel], prefix: str, seen: set) -> list[tuple[str, type[BaseModel]]]:
    out = [(prefix, model)]
    for name, field in model.model_fields.items():
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    seen.add(inner)
                    out.extend(_sections(inner, f'{prefix}.{name}' if prefix else name, seen))
    return out


def write_config_reference(path: Path) -> None:
    """Render every section of MLIPConfig as a Markdown table."""
    from aiida_mlip_autopipe.config import MLIPConfig

    lines = [
        '# Configuration fields',
        '',
        'Generated from `aiida_mlip_autopipe.config.model.MLIPConfig` and the stage sections at build time.',
        '',
    ]
    for dotted, model in _sections(MLIPConfig, '', {MLIPConfig}):
        title = dotted or '(top level)'
        lines += [f'## `{title}` — {model.__name__}', '', (model.__doc__ or '').strip().splitlines()[0], '']
        lines += ['| field | type | default | description |', '| --- | --- | --- | --- |']
        for name, field in model.model_fields.items():
            if field.is_required():
                default = '*required*'
            elif field.default_factory is not None:
                default = '(section)' if isinstance(field.default_factory, type) else f'`{field.default_factory()!r}`'
            else:
                default = f'`{field.default!r}`'
            desc = (field.description or '').replace('|', '\\|').replace('\n', ' ')
            lines.append(
                f'| `{name}` | `{_type_name(field.annotation)}` | {default.replace("|", chr(92) + "|")} | {desc} |'
            )
        lines.append('')
    text = '\n'.join(lines)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
