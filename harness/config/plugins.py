"""Keyword parameters of a plug-in (a compressor, an error feedback) checked against its dataclass fields.

Scenario files give a plug-in's parameters as a free mapping (``technique.params``); `plugin_problem` checks the
name against the plug-in's registry and each parameter against the dataclass field of the same name (strict types:
no ``"0.2"`` for a float, no ``true`` for a number, no inf/NaN), then builds the plug-in once so its own checks run.
Every problem is one line naming the key, ``technique.params.ratio: expected a number, got 'abc'``, so a wrong
parameter is caught by ``harness validate`` and never crashes a run.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from harness.config.problems import show_value, validation_problems
from harness.registry import Registry


@functools.cache
def params_model(cls: type) -> type:
    """A strict pydantic model of ``cls``'s init fields (their types and defaults)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = ...
        fields[field.name] = (hints.get(field.name, Any), default)
    return create_model(f"{cls.__name__}Params", __base__=_strict_base(), **fields)


@functools.cache
def _strict_base() -> type:
    from harness.config.blocks import Strict

    class StrictParams(Strict):
        model_config = ConfigDict(strict=True)

    return StrictParams


def plugin_problem(
    registry: Registry[type], name: Any, params: Mapping[str, Any], where: str, build: Callable[..., Any]
) -> str | None:
    """The first problem of plug-in ``name`` with ``params`` as one ``<where>.<key>: ...`` line, or None.

    Args:
        registry: the plug-in family (its ``family`` names it in messages: "unknown compressor 'x'").
        name: the registry key the scenario gives (``technique.name``).
        params: the parameters the scenario gives (``technique.params``).
        where: the key path of the block holding ``name`` and ``params`` (``technique``).
        build: makes the plug-in from ``name`` and ``**params`` (runs its own value checks; ValueError on failure).
    """
    if not isinstance(name, str) or name not in registry:
        known = ", ".join(repr(key) for key in registry)
        return f"{where}.name: unknown {registry.family} {show_value(name)}; known: {known}"
    cls = registry.get(name)
    model = params_model(cls)
    try:
        model.model_validate(dict(params))
    except ValidationError as err:
        return f"{where}.params.{validation_problems(err, model, dict(params))[0]}"
    try:
        build(name, **params)
    except (TypeError, ValueError) as err:
        message = str(err)
        for field in model.model_fields:  # "topk.ratio: expected ..." -> "technique.params.ratio: expected ..."
            prefix = f"{name}.{field}: "
            if message.startswith(prefix):
                return f"{where}.params.{field}: {message.removeprefix(prefix)}"
        return f"{where}.params: {registry.family} {name!r}: {message}"
    return None


def compressor_problem(name: Any, params: Mapping[str, Any], where: str = "technique") -> str | None:
    """`plugin_problem` for a `methods.compress` compressor."""
    from methods.compress.base import load_compressors, make_compressor

    return plugin_problem(load_compressors(), name, params, where, make_compressor)


def error_feedback_problem(name: Any, params: Mapping[str, Any], where: str) -> str | None:
    """`plugin_problem` for a `methods.compress.error_feedback` wrapper."""
    from methods.compress.error_feedback import ERROR_FEEDBACK, make_error_feedback

    return plugin_problem(ERROR_FEEDBACK, name, params, where, make_error_feedback)
