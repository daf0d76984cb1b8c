"""Guarded state transitions shared by every model with a state machine.

A transition is a conditional UPDATE (``WHERE pk = … AND state = <from>``), so two
processes racing to move the same row cannot both win: the loser gets
``IllegalTransition`` instead of silently overwriting the winner.
"""

from collections.abc import Collection, Mapping
from typing import Any

from django.db import models


class IllegalTransition(Exception):
    def __init__(self, obj: models.Model, current: str, target: str):
        self.obj = obj
        self.current = current
        self.target = target
        label = obj._meta.verbose_name
        super().__init__(f"A {label} cannot go from '{current}' to '{target}'.")


def check_transition(obj: models.Model, target: str, *, field: str = "state") -> str:
    """Raise IllegalTransition unless ``obj`` may move to ``target``; return the current state."""
    current: str = getattr(obj, field)
    # Each state-machine model declares its own TRANSITIONS; models.Model has none to type it by.
    transitions: Mapping[str, Collection[str]] = getattr(obj, "TRANSITIONS")  # noqa: B009
    if target not in transitions.get(current, ()):
        raise IllegalTransition(obj, current, target)
    return current


def apply_transition(obj: models.Model, target: str, *, field: str = "state", **changes: Any) -> None:
    """Move ``obj`` to ``target`` (plus ``changes``) if nobody else moved it first."""
    current = check_transition(obj, target, field=field)
    updated = type(obj)._default_manager.filter(pk=obj.pk, **{field: current}).update(**{field: target}, **changes)
    if updated != 1:
        obj.refresh_from_db(fields=[field])
        raise IllegalTransition(obj, getattr(obj, field), target)
    setattr(obj, field, target)
    for name, value in changes.items():
        setattr(obj, name, value)
