"""Typed, frozen settings with validation that names the offending field.

Every env and command has a frozen dataclass of settings. Fields are declared with
:func:`setting`, which records the allowed range or choices and a one-line doc; the
dataclass calls :func:`validate` in ``__post_init__``. :func:`build_config` turns keyword
arguments (for example those of ``gymnasium.make(id, **kwargs)``) into an instance and
refuses unknown names instead of ignoring them.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has an unknown name or a bad value; the message names it."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` of a config class, worked out once (it is slow)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def setting(
    default: Any = dataclasses.MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field with bounds (inclusive) or a set of allowed values, and its
    one-line doc (which the command line shows as the option's help: :func:`doc_of`).
    No default: a required field; ``factory``: a default made anew for each instance (a
    dict, a nested settings dataclass)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "doc": doc}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in frozen settings")
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def doc_of(cls: type, name: str) -> str:
    """The one-line doc of ``cls``'s field ``name`` (declared with :func:`setting`)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.metadata.get("doc", ""))
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def type_ok(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the type hint (ints count as floats; bools as neither)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(type_ok(v, args[0]) for v in value)
        return len(args) == len(value) and all(
            type_ok(v, a) for v, a in zip(value, args, strict=True)
        )
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def check_types(obj: Any) -> None:
    """Every field of a dataclass against its type hint only: a ConfigError naming the first
    field that does not fit (for settings without :func:`setting` bounds)."""
    cls = type(obj)
    hints = _hints(cls)
    for f in dataclasses.fields(obj):
        value, hint = getattr(obj, f.name), hints.get(f.name, Any)
        if not type_ok(value, hint):
            raise ConfigError(f"{cls.__name__}.{f.name} must be {_hint_name(hint)}, got {value!r}")


def validate(obj: Any) -> None:
    """Check every field of a settings dataclass against its type hint and bounds."""
    cls = type(obj)
    hints = _hints(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        hint = hints.get(f.name, Any)
        where = f"{cls.__name__}.{f.name}"
        if not type_ok(value, hint):
            raise ConfigError(f"{where} must be {_hint_name(hint)}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):  # NaN passes any bound
            raise ConfigError(f"{where} must be a finite number, got {value!r}")
        lo, hi, choices = f.metadata.get("lo"), f.metadata.get("hi"), f.metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{where} must be one of {list(choices)}, got {value!r}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if lo is not None and v < lo:
                    raise ConfigError(f"{where} must be >= {lo}, got {value!r}")
                if hi is not None and v > hi:
                    raise ConfigError(f"{where} must be <= {hi}, got {value!r}")


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def reject_unknown(cls: type, data: Mapping[str, Any]) -> None:
    """``ValueError("unknown <cls> fields [...]")`` when ``data`` has names ``cls`` lacks."""
    unknown = sorted(set(data) - set(field_names(cls)))
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}")


def _coerce(value: Any, hint: Any) -> Any:
    """Lists from TOML/JSON become tuples; ints become floats where a float is declared."""
    if isinstance(value, list):
        value = tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if typing.get_origin(hint) is tuple and isinstance(value, tuple):
        args = typing.get_args(hint)
        if args and args[-1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if len(args) == len(value):
            return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
    return value


def build_config(cls: type[T], config: T | None = None, **overrides: Any) -> T:
    """``cls`` from an optional base instance plus keyword overrides, all validated."""
    if config is not None and not isinstance(config, cls):
        raise ConfigError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    known = field_names(cls)
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown setting {', '.join(map(repr, unknown))} for {cls.__name__}; "
            f"known settings: {', '.join(known)}"
        )
    hints = _hints(cls)
    coerced = {k: _coerce(v, hints.get(k, Any)) for k, v in overrides.items()}
    base = config if config is not None else cls()
    return dataclasses.replace(base, **coerced)  # type: ignore[type-var]


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def config_from_mapping(cls: type[T], data: Mapping[str, Any]) -> T:
    return build_config(cls, None, **dict(data))


def load_toml(cls: type[T], path: str | Path) -> T:
    """Settings from a TOML file; a missing file or bad TOML is a ConfigError."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML in {p}: {e}") from None
    return config_from_mapping(cls, data)
