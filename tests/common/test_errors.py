"""pydantic errors as the single line a CalcJob's settings validator returns."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from aiida_mlip_autopipe.common.errors import validation_messages


class _Settings(BaseModel):
    n_steps: int = 10
    low: float = 1.0
    high: float = 2.0

    @model_validator(mode='after')
    def _order(self):
        if self.low >= self.high:
            raise ValueError('low must be below high')
        return self


def _error(**values) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        _Settings(**values)
    return info.value


def test_fields_are_dotted_and_model_errors_named():
    assert validation_messages(_error(n_steps='many')) == [
        'n_steps: Input should be a valid integer, unable to parse string as an integer'
    ]
    assert validation_messages(_error(low=3.0)) == ['<settings>: Value error, low must be below high']


def test_a_root_prefixes_every_field():
    assert validation_messages(_error(n_steps='many'), root='settings')[0].startswith('settings.n_steps: ')
    assert validation_messages(_error(low=3.0), root='settings') == ['settings: Value error, low must be below high']
