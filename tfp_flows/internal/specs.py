"""Not public API: builders record how they were called.

A flow can so be rebuilt from JSON (Keras `get_config`/`from_config`, `.keras`
files) with no pickled code and no lambdas.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any
from typing import ParamSpec
from typing import TypeVar

import numpy as np
import tensorflow as tf

__all__ = ["build_from_spec", "register_builder", "spec_of"]

_BUILDERS: dict[str, Callable[..., Any]] = {}
_ATTR = "_tfp_flows_spec_json"


def _to_json(value: Any, where: str) -> Any:
    if isinstance(value, tf.dtypes.DType):
        return {"dtype": value.name}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tf.TensorShape):
        return value.as_list()
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise _NotSerializable(f"argument `{where}` of type {type(value).__name__}")


def _from_json(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"dtype"}:
        return tf.as_dtype(value["dtype"])
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


class _NotSerializable(Exception):
    pass


_P = ParamSpec("_P")
_R = TypeVar("_R")


_LEGACY_DEFAULTS: dict[str, dict[str, Any]] = {}


def register_builder(
    name: str, *, legacy_defaults: dict[str, Any] | None = None
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorator: `name` -> builder; results remember their arguments.

    `legacy_defaults` (`{argument: value}`) names arguments whose default
    changed: a spec written before the change does not hold them (a spec
    records only the arguments a caller passed), so `build_from_spec` passes
    the old default `value` for them, and a saved flow is rebuilt with the
    layout its weights have. Specs written now always record these
    arguments, whatever the caller passed.
    """
    legacy = dict(legacy_defaults or {})

    def wrap(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        signature = inspect.signature(fn)
        for arg in legacy:
            if arg not in signature.parameters:
                raise TypeError(f"{name}: legacy default for unknown argument {arg!r}")

        @functools.wraps(fn)
        def builder(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            flow = fn(*args, **kwargs)
            bound = signature.bind(*args, **kwargs)
            for arg in legacy:
                if arg not in bound.arguments:
                    bound.arguments[arg] = signature.parameters[arg].default
            try:
                arguments = {k: _to_json(v, k) for k, v in bound.arguments.items()}
                spec = json.dumps({"builder": name, "arguments": arguments})
            except _NotSerializable as e:
                spec = json.dumps({"builder": name, "not_serializable": str(e)})
            object.__setattr__(flow, _ATTR, spec)
            return flow

        _BUILDERS[name] = builder
        _LEGACY_DEFAULTS[name] = legacy
        return builder

    return wrap


def spec_of(flow: Any) -> str:
    """The JSON spec of a flow made by a registered builder.

    Raises:
      ValueError: if the flow was not made by a `tfp_flows` builder, or one of
        its arguments (e.g. a custom network object) cannot be stored as JSON.
    """
    spec = getattr(flow, _ATTR, None)
    if spec is None:
        raise ValueError(
            "This flow was not made by a tfp_flows builder (flows.glow, realnvp, "
            "maf, iaf, ...), so it cannot be rebuilt from a saved config. Save its "
            "weights with tf.train.Checkpoint instead, or build it with a builder."
        )
    parsed = json.loads(spec)
    if "not_serializable" in parsed:
        raise ValueError(
            f"This {parsed['builder']} flow cannot be saved as a config: its "
            f"{parsed['not_serializable']} is not JSON-serializable. Use "
            "tf.train.Checkpoint for its weights."
        )
    return spec


def build_from_spec(spec: str | dict[str, Any]) -> Any:
    """Rebuilds a flow from `spec_of(flow)` (a JSON string or dict)."""
    parsed = json.loads(spec) if isinstance(spec, str) else dict(spec)
    name = parsed.get("builder")
    if name not in _BUILDERS:
        raise ValueError(
            f"Unknown flow builder {name!r} in the saved config; known: "
            f"{sorted(_BUILDERS)}."
        )
    arguments = {k: _from_json(v) for k, v in parsed["arguments"].items()}
    for arg, value in _LEGACY_DEFAULTS[name].items():
        arguments.setdefault(arg, value)  # a spec from before the default changed
    return _BUILDERS[name](**arguments)


def builder_name(flow: Any) -> str | None:
    """The registered builder name of a flow, or None."""
    spec = getattr(flow, _ATTR, None)
    return None if spec is None else json.loads(spec)["builder"]
