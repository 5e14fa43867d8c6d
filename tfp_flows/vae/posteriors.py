"""Flow posteriors for VAEs: Keras 3 layers that map encoder features to `q(z|x)`.

A posterior layer takes the encoder's output `e` (shape `[B, F]`) and returns
a `FlowPosterior`, a distribution object over `z` (`[..., B, D]`):

    z_0 = mu(e) + sigma(e) * eps,  eps ~ N(0, I)
    z_T = f_T(... f_1(z_0; h(e)) ...; h(e))
    log q(z_T | x) = log N(eps; 0, I) - sum log sigma - sum_t log|det df_t/dz|

`IAFPosterior` (Kingma et al. 2016) uses `T` IAF steps whose MADEs receive
the context `h(e)` and alternate their ordering; `PlanarPosterior` uses `K`
planar steps whose parameters are amortized from `h(e)` (Rezende & Mohamed
2015); `HouseholderPosterior` uses `K` reflections whose vectors the encoder
gives (Tomczak & Welling 2016); `DiagonalGaussianPosterior` is the plain `z_0`.
`sample_and_log_prob` returns samples and their log-density from the same
forward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_probability import bijectors as tfb

from tfp_flows.bijectors.householder import Householder
from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.planar import PlanarFlow
from tfp_flows.internal import checks
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import LayerDType
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.made import MADE
from tfp_flows.nn.made import check_hidden_units

__all__ = [
    "DiagonalGaussianPosterior",
    "FlowPosterior",
    "HouseholderPosterior",
    "IAFPosterior",
    "PlanarPosterior",
]

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


class FlowPosterior:
    """`q(z | x)`: a diagonal Gaussian pushed through context-bound flow steps.

    Batch shape `[B]` (the encoder's batch), event shape `[D]`. Built by a
    posterior layer; users call `sample_and_log_prob`, `sample`, `log_prob`.

    Args:
      loc: `[B, D]` Gaussian mean.
      scale: `[B, D]` Gaussian standard deviation (> 0).
      context: `[B, C]` context of the flow steps, or None.
      bind_fn: `bind_fn(context) -> list of bijectors` (forward order), given
        the context broadcast to the samples' batch shape `[..., B, C]`.
    """

    def __init__(
        self,
        loc: tf.Tensor,
        scale: tf.Tensor,
        context: tf.Tensor | None,
        bind_fn: Callable[[tf.Tensor | None], Sequence[tfb.Bijector]],
    ):
        self.loc = loc
        self.scale = scale
        self.context = context
        self._bind_fn = bind_fn

    @property
    def event_size(self) -> int:
        """D."""
        return int(self.loc.shape[-1])

    def _steps(self, batch_shape):
        if self.context is None:
            return self._bind_fn(None)
        c = tf.shape(self.context)[-1:]
        ctx = tf.broadcast_to(self.context, tf.concat([batch_shape, c], 0))
        return self._bind_fn(ctx)

    def sample_and_log_prob(
        self,
        sample_shape: ShapeLike = (),
        seed: Seed | keras.random.SeedGenerator = None,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Samples `z` `[*sample_shape, B, D]` and `log q(z|x)` `[*sample_shape, B]`.

        One forward pass: each flow step returns its output and log-det together.

        Args:
          sample_shape: int or tuple.
          seed: a `keras.random.SeedGenerator` (inside `model.fit`), an int or
            shape-`[2]` stateless seed, or None.
        """
        sample_shape = checks.check_sample_shape(
            sample_shape, "FlowPosterior.sample_and_log_prob"
        )
        if isinstance(sample_shape, (int, np.integer)):
            sample_shape = [int(sample_shape)]
        elif isinstance(sample_shape, (tf.Tensor, tf.Variable, np.ndarray)):
            sample_shape = tf.reshape(tf.cast(sample_shape, tf.int32), [-1])
        else:
            sample_shape = list(sample_shape)
        shape = tf.concat([sample_shape, tf.shape(self.loc)], 0)
        dtype = self.loc.dtype
        if isinstance(seed, keras.random.SeedGenerator):
            eps = tf.cast(keras.random.normal(shape, seed=seed), dtype)
        elif seed is None:
            eps = tf.random.normal(shape, dtype=dtype)
        else:
            seed = [seed, 0] if isinstance(seed, int) else seed
            eps = tf.random.stateless_normal(shape, seed=seed, dtype=dtype)
        z = self.loc + self.scale * eps
        log_q = tf.reduce_sum(
            -0.5 * tf.square(eps) - _HALF_LOG_2PI - tf.math.log(self.scale), axis=-1
        )
        for bij in self._steps(tf.shape(z)[:-1]):
            z_in = z
            z = bij.forward(z_in)
            log_q -= bij.forward_log_det_jacobian(z_in, event_ndims=1)
        return z, log_q

    def sample(
        self,
        sample_shape: ShapeLike = (),
        seed: Seed | keras.random.SeedGenerator = None,
    ) -> tf.Tensor:
        """Samples `[*sample_shape, B, D]`."""
        return self.sample_and_log_prob(sample_shape, seed)[0]

    def log_prob(self, z: TensorLike) -> tf.Tensor:
        """`log q(z | x)` of given `z` `[..., B, D]` (inverts the flow steps).

        Raises:
          ValueError: if `z` is not `[..., B, D]`.
        """
        z = tf.convert_to_tensor(z, dtype_hint=self.loc.dtype)
        want = self.loc.shape
        got = z.shape
        if got.rank is not None and (
            got.rank < 2
            or any(
                a is not None and b is not None and a != b
                for a, b in zip(got.as_list()[-2:], want.as_list(), strict=True)
            )
        ):
            raise ValueError(
                f"FlowPosterior.log_prob: argument `z` must have shape [..., "
                f"{', '.join('?' if d is None else str(d) for d in want)}]; "
                f"got shape {shape_str(got)}."
            )
        ildj = 0.0
        for bij in reversed(self._steps(tf.shape(z)[:-1])):
            z_out = z
            z = bij.inverse(z_out)
            ildj += bij.inverse_log_det_jacobian(z_out, event_ndims=1)
        eps = (z - self.loc) / self.scale
        base = tf.reduce_sum(
            -0.5 * tf.square(eps) - _HALF_LOG_2PI - tf.math.log(self.scale), axis=-1
        )
        return base + ildj


@keras.saving.register_keras_serializable(package="tfp_flows")
class DiagonalGaussianPosterior(keras.layers.Layer):
    """`q(z|x) = N(mu(e), diag(sigma(e)^2))` from encoder features `e` `[B, F]`.

    The heads are one Dense layer `F -> 2D` (plus `F -> C` for a context in
    the subclasses); `sigma = softplus(raw) + min_scale`. Weights are built
    at construction.

    Args:
      latent_size: D.
      feature_size: F, the size of the encoder's output.
      min_scale: lower bound of sigma.
      dtype: weight dtype.
      name: layer name.

    Raises:
      ValueError: bad sizes; at call time, features not `[B, F]`.

    #### Examples

    >>> layer = DiagonalGaussianPosterior(2, feature_size=5)
    >>> q = layer(tf.zeros([3, 5]))
    >>> z, log_q = q.sample_and_log_prob(4, seed=1)
    >>> z.shape, log_q.shape
    (TensorShape([4, 3, 2]), TensorShape([4, 3]))
    """

    _owner = "DiagonalGaussianPosterior"

    def __init__(
        self,
        latent_size: int,
        *,
        feature_size: int,
        context_size: int = 0,
        min_scale: float = 1e-4,
        dtype: LayerDType = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = self._owner
        self.latent_size = check_positive_int(latent_size, "latent_size", owner)
        self.feature_size = check_positive_int(feature_size, "feature_size", owner)
        self.context_size = check_positive_int(context_size, "context_size", owner, 0)
        self.min_scale = checks.check_number(
            min_scale, "min_scale", owner, minimum=0.0, strict=False
        )
        d, c = self.latent_size, self.context_size
        self.heads = keras.layers.Dense(2 * d + c, dtype=dtype, name="heads")
        self.heads.build((None, self.feature_size))

    def _bijectors(self, context):
        return []

    def call(self, features: TensorLike) -> FlowPosterior:
        """Maps encoder features `[B, F]` to a `FlowPosterior`."""
        features = tf.convert_to_tensor(features, dtype_hint=self.compute_dtype)
        f = self.feature_size
        if features.shape.rank is not None and (
            features.shape.rank != 2 or features.shape[-1] not in (None, f)
        ):
            raise ValueError(
                f"{self._owner}: argument `features` (the encoder output) must "
                f"have shape [batch, {f}] (feature_size={f}); got shape "
                f"{shape_str(features.shape)}."
            )
        out = self.heads(features)
        d, c = self.latent_size, self.context_size
        loc = out[:, :d]
        scale = tf.math.softplus(out[:, d : 2 * d]) + self.min_scale
        context = out[:, 2 * d :] if c else None
        return FlowPosterior(loc, scale, context, self._bijectors)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        config = super().get_config()
        config.update(
            latent_size=self.latent_size,
            feature_size=self.feature_size,
            context_size=self.context_size,
            min_scale=self.min_scale,
        )
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class IAFPosterior(DiagonalGaussianPosterior):
    """IAF posterior of Kingma et al. (2016): `T` gated IAF steps given `h`.

    From encoder features `e`, one Dense head gives `mu`, `sigma` and the
    context `h` (`context_size` numbers); then `T` steps

        [m_t, s_t] = MADE_t(z_{t-1}, h),  sigma_t = sigmoid(s_t + gate_bias)
        z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t
        log q -= sum log sigma_t

    (the paper's eq. 14 and algorithm 1), with the MADE orderings alternating
    (left-to-right, right-to-left). One reusable layer: any encoder whose
    output has `feature_size` numbers can use it.

    Args:
      latent_size: D.
      feature_size: F, the encoder output size.
      num_steps: T >= 1.
      context_size: C, the size of `h`.
      hidden_units: hidden sizes of each MADE (each `>= D`).
      min_scale: lower bound of the initial sigma.
      seed: seed of the MADEs' initial weights.
      dtype: weight dtype.
      name: layer name.

    Raises:
      ValueError: bad sizes (via MADE for the hidden units); at call time,
        features not `[B, F]`.

    #### Examples

    >>> layer = IAFPosterior(4, feature_size=6, num_steps=2, context_size=3,
    ...                      hidden_units=[8])
    >>> q = layer(tf.random.normal([5, 6], seed=1))
    >>> z, log_q = q.sample_and_log_prob(2, seed=3)
    >>> bool(tf.reduce_all(tf.abs(q.log_prob(z) - log_q) < 1e-3))
    True

    #### References

    Kingma, Salimans, Jozefowicz, Chen, Sutskever, Welling. Improved
    Variational Inference with Inverse Autoregressive Flow. NeurIPS 2016.
    https://arxiv.org/abs/1606.04934
    """

    _owner = "IAFPosterior"

    def __init__(
        self,
        latent_size: int,
        *,
        feature_size: int,
        num_steps: int = 2,
        context_size: int = 16,
        hidden_units: Sequence[int] = (64, 64),
        min_scale: float = 1e-4,
        seed: int = 0,
        dtype: LayerDType = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        context_size = check_positive_int(context_size, "context_size", self._owner)
        super().__init__(
            latent_size,
            feature_size=feature_size,
            context_size=context_size,
            min_scale=min_scale,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self.num_steps = check_positive_int(num_steps, "num_steps", self._owner)
        self.hidden_units = check_hidden_units(
            self.latent_size, hidden_units, context_size, owner=self._owner
        )
        self.seed = checks.check_seed(seed, self._owner)
        self.mades = [
            MADE(
                self.latent_size,
                num_params=2,
                hidden_units=self.hidden_units,
                input_order="left-to-right" if t % 2 == 0 else "right-to-left",
                activation="elu",
                context_size=context_size,
                seed=self.seed * 1000 + t,
                dtype=self.variable_dtype,
                name=f"made_{t}",
            )
            for t in range(self.num_steps)
        ]
        self._steps = [IAF(m, transform="gated") for m in self.mades]

    def _bijectors(self, context):
        return [step.with_context(context) for step in self._steps]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        config = super().get_config()
        config.update(
            num_steps=self.num_steps, hidden_units=self.hidden_units, seed=self.seed
        )
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class PlanarPosterior(DiagonalGaussianPosterior):
    """Planar-flow posterior (Rezende & Mohamed 2015): `K` amortized planar steps.

    The Dense head gives `mu`, `sigma` and a context `h`; each `PlanarFlow`
    step maps `h` linearly to its `(u, w, b)`, so every data point gets its own
    flow (the paper's amortized parameters).

    Args:
      latent_size: D.
      feature_size: F, the encoder output size.
      num_steps: K >= 1.
      context_size: C, the size of `h`.
      min_scale: lower bound of the initial sigma.
      seed: seed of the steps' initial weights.
      dtype: weight dtype.
      name: layer name.

    #### Examples

    >>> layer = PlanarPosterior(2, feature_size=4, num_steps=3, context_size=3)
    >>> q = layer(tf.zeros([5, 4]))
    >>> q.sample(7, seed=1).shape
    TensorShape([7, 5, 2])
    """

    _owner = "PlanarPosterior"

    def __init__(
        self,
        latent_size: int,
        *,
        feature_size: int,
        num_steps: int = 4,
        context_size: int = 16,
        min_scale: float = 1e-4,
        seed: int = 0,
        dtype: LayerDType = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        context_size = check_positive_int(context_size, "context_size", self._owner)
        super().__init__(
            latent_size,
            feature_size=feature_size,
            context_size=context_size,
            min_scale=min_scale,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self.num_steps = check_positive_int(num_steps, "num_steps", self._owner)
        self.seed = checks.check_seed(seed, self._owner)
        self._steps = [
            PlanarFlow(
                self.latent_size,
                context_size=context_size,
                seed=self.seed * 1000 + k,
                dtype=self.variable_dtype,
                name=f"planar_{k}",
            )
            for k in range(self.num_steps)
        ]
        self.stores = [step.weight_store for step in self._steps]

    def _bijectors(self, context):
        return [step.with_context(context) for step in self._steps]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        config = super().get_config()
        config.update(num_steps=self.num_steps, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class HouseholderPosterior(DiagonalGaussianPosterior):
    """Householder-flow posterior (Tomczak & Welling 2016, section 3).

    From the encoder's last hidden layer `e` (`[B, F]`), one Dense head gives
    `mu`, `sigma` and the first Householder vector; the next vectors come
    from the previous ones through linear layers, as in the paper:

        v_1 = W_0 e + b_0,   v_{t+1} = W_t v_t + b_t   (t = 1 ... K-1)
        z_0 = mu + sigma * eps,   z_t = H_t z_{t-1},
        H_t = I - 2 v_t v_t^T / ||v_t||^2
        log q(z_K | x) = log N(z_0; mu, diag(sigma^2))   (volume preserving)

    so `q(z_K | x) = N(Q mu, Q diag(sigma^2) Q^T)` with `Q = H_K ... H_1`:
    a full-covariance Gaussian whose rotation is computed per data point.
    Every `v_t` is a Keras 3 weight's linear function of `e` (`W_t` `[D, D]`
    are Dense layers of this layer); the reflections are one
    `tfp_flows.bijectors.Householder` with the vectors given per example.
    A `v_t` at (or near) 0 is safe: see `tfp_flows.bijectors.householder.reflect`.

    Args:
      latent_size: D.
      feature_size: F, the size of the encoder output `e`.
      num_steps: K >= 1, the number of reflections.
      min_scale: lower bound of sigma.
      seed: seed of the initial weights of the `v_{t+1}` layers.
      dtype: weight dtype.
      name: layer name.

    Raises:
      ValueError: bad sizes; at call time, features not `[B, F]`.

    #### Examples

    >>> layer = HouseholderPosterior(3, feature_size=5, num_steps=2)
    >>> q = layer(tf.random.normal([4, 5], seed=1))
    >>> z, log_q = q.sample_and_log_prob(2, seed=3)
    >>> z.shape, log_q.shape
    (TensorShape([2, 4, 3]), TensorShape([2, 4]))
    >>> bool(tf.reduce_all(tf.abs(q.log_prob(z) - log_q) < 1e-4))
    True

    #### References

    Jakub M. Tomczak, Max Welling. Improving Variational Auto-Encoders using
    Householder Flow. NIPS 2016 Workshop on Bayesian Deep Learning.
    https://arxiv.org/abs/1611.09630
    """

    _owner = "HouseholderPosterior"

    def __init__(
        self,
        latent_size: int,
        *,
        feature_size: int,
        num_steps: int = 1,
        min_scale: float = 1e-4,
        seed: int = 0,
        dtype: LayerDType = None,
        name: str | None = None,
        **kwargs: Any,
    ):
        d = check_positive_int(latent_size, "latent_size", self._owner)
        if "context_size" in kwargs:
            # The head's extra outputs are v_1: always D numbers, no option.
            raise ValueError(
                f"{self._owner}: argument `context_size` is not an option (the "
                f"first Householder vector has latent_size={d} entries); got "
                f"{kwargs['context_size']!r}."
            )
        super().__init__(
            d,
            feature_size=feature_size,
            context_size=d,
            min_scale=min_scale,
            dtype=dtype,
            name=name,
            **kwargs,
        )
        self.num_steps = check_positive_int(num_steps, "num_steps", self._owner)
        self.seed = checks.check_seed(seed, self._owner)
        self.vector_layers = []
        for t in range(1, self.num_steps):
            layer = keras.layers.Dense(
                d,
                kernel_initializer=keras.initializers.GlorotUniform(
                    seed=self.seed * 1000 + t
                ),
                dtype=dtype,
                name=f"householder_v{t + 1}",
            )
            layer.build((None, d))
            self.vector_layers.append(layer)

    def householder_vectors(self, features: TensorLike) -> tf.Tensor:
        """The vectors `v_1 ... v_K` of each example: `[B, K, D]`."""
        return self._vectors(self.heads(self._checked(features)))

    def _checked(self, features):
        features = tf.convert_to_tensor(features, dtype_hint=self.compute_dtype)
        f = self.feature_size
        if features.shape.rank is not None and (
            features.shape.rank != 2 or features.shape[-1] not in (None, f)
        ):
            raise ValueError(
                f"{self._owner}: argument `features` (the encoder output) must "
                f"have shape [batch, {f}] (feature_size={f}); got shape "
                f"{shape_str(features.shape)}."
            )
        return features

    def _vectors(self, head_out):
        v = head_out[:, 2 * self.latent_size :]  # v_1 = W_0 e + b_0
        vectors = [v]
        for layer in self.vector_layers:  # v_{t+1} = W_t v_t + b_t
            v = layer(v)
            vectors.append(v)
        return tf.stack(vectors, axis=-2)

    def call(self, features: TensorLike) -> FlowPosterior:
        """Maps encoder features `[B, F]` to a `FlowPosterior`."""
        out = self.heads(self._checked(features))
        d, k = self.latent_size, self.num_steps
        loc = out[:, :d]
        scale = tf.math.softplus(out[:, d : 2 * d]) + self.min_scale
        vectors = tf.reshape(self._vectors(out), [-1, k * d])
        return FlowPosterior(loc, scale, vectors, self._bijectors)

    def _bijectors(self, context):
        # `context` is the flattened vectors broadcast to the samples' batch
        # shape: [..., B, K * D].
        d, k = self.latent_size, self.num_steps
        shape = tf.concat([tf.shape(context)[:-1], [k, d]], 0)
        vectors = tf.reshape(context, shape)
        return [
            Householder(
                d,
                k,
                vectors=vectors,
                dtype=context.dtype,
                name="householder_posterior_flow",
            )
        ]

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments."""
        config = super().get_config()
        config.pop("context_size", None)
        config.update(num_steps=self.num_steps, seed=self.seed)
        return config
