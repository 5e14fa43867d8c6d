"""Not public API: the `tfd.TransformedDistribution` that every builder returns.

TFP's `TransformedDistribution` routes keyword arguments through its
`kwargs_split_fn`, whose default silently drops every key but
`distribution_kwargs` / `bijector_kwargs`: `glow(...).log_prob(x, context=c)`
runs, ignoring `c`. It also casts integer arrays to the flow's float dtype
(so raw images of levels 0..255 are scored as if they were real values), and
a negative sample count reaches a random op as a raw shape error. This
subclass checks those at the call, naming the argument, and is otherwise
TFP's class unchanged (same base, same parameters, caching and copying).
"""

from typing import Any

import tensorflow as tf
from tensorflow_probability.python.distributions.transformed_distribution import (
    _TransformedDistribution,
)

from tfp_flows.internal import checks

__all__ = ["FlowDistribution"]

_PASSED_THROUGH = ("distribution_kwargs", "bijector_kwargs")


class _KwargsCheck:
    """A `kwargs_split_fn` that rejects keyword arguments the flow cannot use."""

    def __init__(self, owner, context_hint):
        self.owner = owner
        self.context_hint = context_hint

    def check(self, kwargs, method=None):
        where = self.owner if method is None else f"{self.owner}.{method}"
        unknown = sorted(k for k in kwargs if k not in _PASSED_THROUGH)
        if not unknown:
            return
        if "context" in unknown:
            raise ValueError(
                f"{where}: argument `context` was given, but {self.context_hint}"
            )
        raise ValueError(
            f"{where}: unexpected keyword argument(s) "
            + ", ".join(f"`{k}`" for k in unknown)
            + "; this flow takes only `distribution_kwargs` / `bijector_kwargs`."
        )

    def __call__(self, kwargs):
        self.check(kwargs)
        return kwargs.get("distribution_kwargs", {}), kwargs.get("bijector_kwargs", {})


_UNCONDITIONAL = (
    "this flow is unconditional (it takes no context). Build a conditional one "
    "with `context_size=C` (`tfp_flows.flows.maf`, `iaf`, `coupling_flow`, "
    "`glow`, `realnvp`; `glow`/`realnvp` also take `context_shape=(H, W, C)`)."
)
_BOUND = (
    "this distribution already has its context bound (by `condition(c)`); call "
    "the family's `log_prob(x, context=c)` / `sample(n, context=c)` instead."
)


class FlowDistribution(_TransformedDistribution):
    """`tfd.TransformedDistribution` with checked `log_prob`/`sample` arguments.

    Args:
      distribution: the base distribution.
      bijector: base -> data.
      owner: the name used in error messages (the builder, e.g. `'glow'`).
      context_bound: True for a conditional flow's `condition(c)` (the error
        for a second context then says so).
      validate_args: passed to TFP.
      name: the distribution's name.
    """

    def __init__(
        self,
        distribution,
        bijector,
        *,
        owner=None,
        context_bound=False,
        validate_args=False,
        name=None,
    ):
        parameters = dict(locals())
        self._owner = owner or name or "flow"
        self._kwargs_check = _KwargsCheck(
            self._owner, _BOUND if context_bound else _UNCONDITIONAL
        )
        super().__init__(
            distribution,
            bijector,
            kwargs_split_fn=self._kwargs_check,
            validate_args=validate_args,
            parameters=parameters,
            name=name,
        )

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        # The tensor-valued parameters are TFP's (`distribution`, `bijector`);
        # `owner` and `context_bound` are plain Python values.
        return _TransformedDistribution._parameter_properties(
            dtype, num_classes=num_classes
        )

    def check_value(self, value, method="log_prob", arg_name="value", owner=None):
        """ValueError for integer values, another float dtype or a wrong event shape.

        Errors name `owner` (default `'<builder>.<method>'`) and `arg_name`
        (and, for data passed to a density method, its name inside the
        bijectors, `y`, which their own errors use).
        """
        owner = owner or f"{self._owner}.{method}"
        alias = None if arg_name == "data" else "`y` of the flow's bijector"
        dtype = tf.as_dtype(self.dtype)
        checks.check_no_integer_values(value, arg_name, owner, dtype, alias=alias)
        got: Any = getattr(value, "dtype", None)
        if isinstance(value, (tf.Tensor, tf.Variable)) and got != dtype:
            raise ValueError(
                f"{owner}: argument `{arg_name}` has dtype {got.name}, but this flow's "
                f"dtype is {dtype.name}; cast it with "
                f"`tf.cast({arg_name}, tf.{dtype.name})`."
            )
        shape = getattr(value, "shape", None)
        if shape is None:
            try:
                shape = tf.convert_to_tensor(value).shape
            except (TypeError, ValueError):
                return
        event = self.event_shape
        if event.rank is not None:
            checks.check_event_shape(
                shape, arg_name, owner, event.as_list(), alias=alias
            )

    # -- checked public methods ----------------------------------------------
    def log_prob(self, value, name="log_prob", **kwargs):
        """`log p(value)`, after checking `value` and the keyword arguments."""
        self._kwargs_check.check(kwargs, "log_prob")
        self.check_value(value, "log_prob")
        return super().log_prob(value, name=name, **kwargs)

    def prob(self, value, name="prob", **kwargs):
        """`p(value)`, after checking `value` and the keyword arguments."""
        self._kwargs_check.check(kwargs, "prob")
        self.check_value(value, "prob")
        return super().prob(value, name=name, **kwargs)

    def unnormalized_log_prob(self, value, name="unnormalized_log_prob", **kwargs):
        """As `log_prob` (a flow is normalized), with the same checks."""
        self._kwargs_check.check(kwargs, "unnormalized_log_prob")
        self.check_value(value, "unnormalized_log_prob")
        return super().unnormalized_log_prob(value, name=name, **kwargs)

    def sample(self, sample_shape=(), seed=None, name="sample", **kwargs):
        """Samples, after checking `sample_shape` and the keyword arguments."""
        self._kwargs_check.check(kwargs, "sample")
        sample_shape = checks.check_sample_shape(sample_shape, f"{self._owner}.sample")
        return super().sample(sample_shape, seed=seed, name=name, **kwargs)

    def experimental_sample_and_log_prob(
        self, sample_shape=(), seed=None, name="sample_and_log_prob", **kwargs
    ):
        """Samples and their log-density, after the checks of `sample`."""
        owner = f"{self._owner}.experimental_sample_and_log_prob"
        self._kwargs_check.check(kwargs, "experimental_sample_and_log_prob")
        sample_shape = checks.check_sample_shape(sample_shape, owner)
        return super().experimental_sample_and_log_prob(
            sample_shape, seed=seed, name=name, **kwargs
        )
