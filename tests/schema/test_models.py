"""Model-level guarantees that the agreement tests cover only by sampling."""

from __future__ import annotations

import inspect
import json

import pytest
from pydantic import ValidationError

from strive_schema import models
from strive_schema.models import StriveModel

MODELS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(models, inspect.isclass)
        if issubclass(cls, StriveModel) and cls is not StriveModel
    ),
    key=lambda cls: cls.__name__,
)
OPTIONAL_MEMBERS = [
    (cls, name)
    for cls in MODELS
    for name, info in cls.model_fields.items()
    if not info.is_required() and info.default is None
]


def test_every_model_is_collected() -> None:
    assert len(MODELS) >= 20
    assert len(OPTIONAL_MEMBERS) >= 40


@pytest.mark.parametrize(
    ("cls", "name"), OPTIONAL_MEMBERS, ids=lambda v: v if isinstance(v, str) else v.__name__
)
def test_an_optional_member_may_be_absent_but_never_null(cls: type[StriveModel], name: str) -> None:
    # From JSON and from Python alike: null is refused at the member, absence is not.
    for attempt in (
        lambda: cls.model_validate_json(json.dumps({name: None})),
        lambda: cls.model_validate({name: None}),
    ):
        with pytest.raises(ValidationError) as caught:
            attempt()
        assert any(error["loc"][:1] == (name,) for error in caught.value.errors())
    with pytest.raises(ValidationError) as caught:  # every model has a required member
        cls.model_validate({})
    assert all(error["loc"][:1] != (name,) for error in caught.value.errors())
