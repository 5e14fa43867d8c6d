"""`ConditionalFlow`: a family of flows `p(x | c)` with one context argument.

Every conditional builder of the package returns one (`maf`, `iaf`,
`coupling_flow`, `glow` and `realnvp` with `context_size=` / `context_shape=`).
It follows the package's conditioning protocol
(`tfp_flows.internal.conditioning`): `context_shape`, `context_dtype`,
`condition(c)` returning an ordinary `tfd.TransformedDistribution`, and
`log_prob(x, context=c)` / `sample(n, context=c, seed=s)` equal to conditioning
first. In the stack some bijectors take the context (conditional couplings,
MAF/IAF layers, a conditional `MultiScale`) and others do not (ActNorm,
permutations, 1x1 convolutions); `condition` binds the former with their one
`with_context` and leaves the latter as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
from tensorflow_probability import bijectors as tfb
from tensorflow_probability import distributions as tfd

from tfp_flows.bijectors.base import bind_context
from tfp_flows.bijectors.base import consumes_context
from tfp_flows.internal import checks
from tfp_flows.internal.conditioning import check_context
from tfp_flows.internal.flow_distribution import FlowDistribution
from tfp_flows.internal.keras import keras
from tfp_flows.internal.keras import keras_layers_of
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike

__all__ = ["ConditionalFlow"]


class ConditionalFlow(tf.Module):
    """A family of flows `p(x | c)`: one context routed to every layer that takes it.

    Holds the base distribution and the stack (forward order) of bijectors;
    the bijectors that consume a context (`ContextBijector`s built with a
    `context_shape`, conditional MAF/IAF layers) are bound to it, the others
    are used as they are. `condition(c)` returns an ordinary
    `tfd.TransformedDistribution`; `log_prob(x, context=c)` and
    `sample(n, context=c)` are `condition(c).log_prob(x)` and
    `condition(c).sample(n)`.

    Args:
      distribution: the base distribution.
      bijectors: the bijectors in forward (base -> data) order.
      context_size: C for a vector context `[..., C]` (or use
        `context_shape`).
      name: module name.
      context_shape: the context's event shape, `(C,)` or `(H', W', C')`.
      owner: the builder named in errors.

    Raises:
      ValueError: neither (or both, disagreeing) `context_size` and
        `context_shape`; no bijector of the stack takes a context.

    #### Examples

    >>> from tfp_flows import flows
    >>> cond = flows.coupling_flow(2, num_layers=2, hidden_units=8, context_size=3)
    >>> dist = cond.condition(tf.ones([4, 3]))  # an ordinary distribution
    >>> dist.log_prob(tf.zeros([4, 2])).shape
    TensorShape([4])
    >>> cond.sample(4, context=tf.ones([4, 3]), seed=1).shape
    TensorShape([4, 2])
    """

    def __init__(
        self,
        distribution: tfd.Distribution,
        bijectors: Sequence[tfb.Bijector],
        context_size: int | None = None,
        name: str = "flow",
        *,
        context_shape: Sequence[int] | None = None,
        owner: str | None = None,
    ):
        """Creates the family (see the class docstring)."""
        super().__init__(name=name)
        owner = owner or name
        if context_shape is None:
            if context_size is None:
                raise ValueError(
                    f"{owner}: pass `context_size` (a vector context) or "
                    "`context_shape`; got neither."
                )
            context_shape = (
                checks.check_positive_int(context_size, "context_size", owner),
            )
        shape = tuple(
            checks.check_positive_int(d, f"context_shape[{i}]", owner)
            for i, d in enumerate(context_shape)
        )
        if context_size is not None and shape != (int(context_size),):
            raise ValueError(
                f"{owner}: arguments `context_size` ({context_size}) and "
                f"`context_shape` ({shape}) disagree; pass one."
            )
        self.distribution = distribution
        self.bijectors = list(bijectors)
        if not any(consumes_context(b) for b in self.bijectors):
            raise ValueError(
                f"{owner}: no bijector of the stack takes a context; build them "
                "with `context_shape` (or use an unconditional flow)."
            )
        self._context_shape = shape
        self._owner = owner

    # -- the protocol --------------------------------------------------------
    @property
    def context_shape(self) -> tuple[int, ...]:
        """The event shape of the context, `(C,)` or `(H', W', C')`."""
        return self._context_shape

    @property
    def context_size(self) -> int | None:
        """C for a vector context; None for an image context."""
        return self._context_shape[0] if len(self._context_shape) == 1 else None

    @property
    def context_dtype(self) -> tf.DType:
        """The dtype of the context: the flow's."""
        return tf.as_dtype(self.distribution.dtype)

    @property
    def dtype(self) -> tf.DType:
        """The dtype of the values scored."""
        return tf.as_dtype(self.distribution.dtype)

    @property
    def event_shape(self) -> tf.TensorShape:
        """The event shape of `x`."""
        return self.distribution.event_shape

    @property
    def keras_layers(self) -> list[keras.layers.Layer]:
        """The Keras 3 layers holding the flow's weights."""
        return keras_layers_of(self)

    def _context(self, context, batch_shape=None, owner=None):
        return check_context(
            context,
            self._context_shape,
            self.context_dtype,
            owner or f"{self._owner}.condition",
            batch_shape=batch_shape,
        )

    def condition(self, context: TensorLike) -> tfd.TransformedDistribution:
        """`p(. | context)` as a `tfd.TransformedDistribution`.

        Args:
          context: `[*context_shape]` (one context for every row) or
            `[..., *context_shape]` with a batch shape that broadcasts with
            the values later passed to `log_prob` (or with `sample_shape`).

        Returns:
          The flow with every context-consuming bijector bound to `context`.

        Raises:
          ValueError: `context` is None, not floating, of another dtype or
            of the wrong shape.
        """
        context = self._context(context)
        bound = [bind_context(b, context) for b in self.bijectors]
        return FlowDistribution(
            self.distribution,
            tfb.Chain(bound[::-1]),
            owner=self._owner,
            context_bound=True,
            name=self.name,
        )

    def _batch_of(self, x):
        shape = getattr(x, "shape", None)
        if shape is None:
            return None
        shape = tf.TensorShape(shape)
        k = self.event_shape.rank
        if shape.rank is None or k is None or shape.rank < k:
            return None
        return shape[: shape.rank - k]

    def log_prob(self, x: TensorLike, context: TensorLike = None) -> tf.Tensor:
        """`log p(x | context)`; `context`'s batch must broadcast with `x`'s."""
        owner = f"{self._owner}.log_prob"
        context = self._context(context, self._batch_of(x), owner)
        dist = self.condition(context)
        dist.check_value(x, "log_prob", arg_name="x")
        return dist.log_prob(x)

    def prob(self, x: TensorLike, context: TensorLike = None) -> tf.Tensor:
        """`p(x | context)`."""
        return tf.exp(self.log_prob(x, context=context))

    def sample(
        self,
        sample_shape: ShapeLike = (),
        context: TensorLike | None = None,
        seed: Seed = None,
    ) -> tf.Tensor:
        """Samples of `p(. | context)`: `condition(context).sample(sample_shape)`.

        With `context` of shape `[N, *context_shape]` and `sample_shape=N`
        the i-th sample is drawn given the i-th context row.
        """
        context = self._context(context, owner=f"{self._owner}.sample")
        return self.condition(context).sample(sample_shape, seed=seed)

    def __repr__(self) -> str:
        """Names the family and its context shape."""
        return (
            f"<tfp_flows.flows.ConditionalFlow '{self.name}' event_shape="
            f"{self.event_shape.as_list()} context_shape={list(self._context_shape)}>"
        )
