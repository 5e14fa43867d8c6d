"""A VAE with a Bernoulli decoder and a choice of (flow) posterior.

    x -> encoder -> e -> posterior layer -> q(z|x) (Gaussian, planar, IAF
                                                    or Householder)
    z ~ q(z|x),   p(z) = N(0, I),   p(x|z) = Bernoulli(decoder(z))
    ELBO(x) = E_q[log p(x|z) + log p(z) - log q(z|x)]
    log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i|x)   (importance weighted)

`VAE` is a Keras 3 model: `model.fit(x)` minimizes the negative one-sample
ELBO (no targets), and `model.trainable_weights` is exactly the encoder's,
decoder's and posterior's weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from tfp_flows.internal import checks
from tfp_flows.internal.checks import check_positive_int
from tfp_flows.internal.checks import shape_str
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import TensorLike
from tfp_flows.nn.made import check_hidden_units
from tfp_flows.vae.posteriors import DiagonalGaussianPosterior
from tfp_flows.vae.posteriors import FlowPosterior
from tfp_flows.vae.posteriors import HouseholderPosterior
from tfp_flows.vae.posteriors import IAFPosterior
from tfp_flows.vae.posteriors import PlanarPosterior

__all__ = ["POSTERIORS", "VAE", "make_posterior"]

POSTERIORS = ("gaussian", "planar", "iaf", "householder")
_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


def _plain(value: Any) -> Any:
    """`value` with sequences as plain lists (JSON for `get_config`)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def make_posterior(
    kind: str,
    latent_size: int,
    *,
    feature_size: int,
    num_steps: int = 0,
    context_size: int = 16,
    hidden_units: Sequence[int] = (64, 64),
    seed: int = 0,
) -> DiagonalGaussianPosterior:
    """A posterior layer: `'gaussian'`, `'planar'`, `'iaf'` or `'householder'`.

    `num_steps` is K planar steps, T IAF steps or K Householder reflections.

    `context_size` is the size of the context `h` of the planar and IAF
    steps; `hidden_units` those of each IAF step's MADE. The Householder
    posterior uses neither: its first vector is a linear function of the
    encoder output and the next ones linear functions of the previous one
    (Tomczak & Welling 2016).

    Raises:
      ValueError: unknown `kind`, or `num_steps < 1` for a flow posterior.

    #### Examples

    >>> layer = make_posterior("iaf", 4, feature_size=8, num_steps=2, hidden_units=[8])
    >>> type(layer).__name__, len(layer.mades)
    ('IAFPosterior', 2)
    """
    if kind not in POSTERIORS:
        raise ValueError(
            f"make_posterior: argument `kind` must be one of {POSTERIORS}; "
            f"got {kind!r}."
        )
    if kind == "gaussian":
        return DiagonalGaussianPosterior(
            latent_size, feature_size=feature_size, name="gaussian_posterior"
        )
    num_steps = check_positive_int(num_steps, "num_steps", f"make_posterior({kind!r})")
    if kind == "householder":
        return HouseholderPosterior(
            latent_size,
            feature_size=feature_size,
            num_steps=num_steps,
            seed=seed,
            name="householder_posterior",
        )
    if kind == "planar":
        return PlanarPosterior(
            latent_size,
            feature_size=feature_size,
            num_steps=num_steps,
            context_size=context_size,
            seed=seed,
            name="planar_posterior",
        )
    return IAFPosterior(
        latent_size,
        feature_size=feature_size,
        num_steps=num_steps,
        context_size=context_size,
        hidden_units=hidden_units,
        seed=seed,
        name="iaf_posterior",
    )


@keras.saving.register_keras_serializable(package="tfp_flows")
class VAE(keras.Model):
    """VAE on binary vectors with a Gaussian, planar, IAF or Householder posterior.

    Args:
      data_size: number of binary inputs (64 for the 8x8 digits).
      latent_size: D.
      posterior: `'gaussian'`, `'planar'`, `'iaf'` or `'householder'`.
      num_flow_steps: K planar steps, T IAF steps or K Householder reflections.
      hidden_units: hidden sizes of the encoder (and, reversed, the decoder).
      context_size: size of the context `h` the planar and IAF steps receive
        (the Householder posterior has none: see `make_posterior`).
      made_hidden_units: hidden sizes of each IAF step's MADE.
      seed: seed of the weights and of the training noise.
      name: model name.

    Raises:
      ValueError: bad sizes or posterior options (naming the VAE's own
        arguments: `num_flow_steps` must be 0 for `'gaussian'` and >= 1 for
        the flows, `made_hidden_units` must cover the MADE degrees); at call
        time, inputs that are not `[B, data_size]`.

    #### Examples

    >>> model = VAE(16, latent_size=2, posterior="iaf", num_flow_steps=2,
    ...             hidden_units=[16], made_hidden_units=[8])
    >>> x = (np.random.RandomState(0).uniform(size=(4, 16)) > 0.5).astype("float32")
    >>> model(x).shape  # the one-sample ELBO; train with compile() + fit(x)
    TensorShape([4])
    >>> model.importance_weighted(x[:4], num_samples=8)["log_px"].shape
    TensorShape([4])
    """

    def __init__(
        self,
        data_size: int = 64,
        *,
        latent_size: int = 8,
        posterior: str = "gaussian",
        num_flow_steps: int = 0,
        hidden_units: Sequence[int] = (128, 128),
        context_size: int = 16,
        made_hidden_units: Sequence[int] = (64, 64),
        seed: int = 0,
        name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(name=name, **kwargs)
        owner = "VAE"
        self.data_size = check_positive_int(data_size, "data_size", owner)
        self.latent_size = check_positive_int(latent_size, "latent_size", owner)
        if posterior not in POSTERIORS:
            raise ValueError(
                f"{owner}: argument `posterior` must be one of {POSTERIORS}; "
                f"got {posterior!r}."
            )
        self.posterior_kind = posterior
        # The VAE's own argument names (the posterior layers call them
        # `num_steps` and `hidden_units`).
        if posterior == "gaussian":
            self.num_flow_steps = check_positive_int(
                num_flow_steps, "num_flow_steps", owner, 0
            )
            if self.num_flow_steps:
                raise ValueError(
                    f"{owner}: argument `num_flow_steps` must be 0 for "
                    "posterior='gaussian' (a diagonal Gaussian has no flow steps); "
                    f"got {num_flow_steps}. Use posterior='planar', 'iaf' or "
                    "'householder'."
                )
        else:
            self.num_flow_steps = check_positive_int(
                num_flow_steps, "num_flow_steps", owner
            )
            context_size = check_positive_int(context_size, "context_size", owner)
        if posterior == "iaf":
            made_hidden_units = check_hidden_units(
                self.latent_size,
                made_hidden_units,
                context_size,
                owner=owner,
                arg_name="made_hidden_units",
            )
        seed = checks.check_seed(seed, owner, allow_none=True)
        hidden = checks.check_int_sequence(hidden_units, "hidden_units", owner)
        # The checked constructor arguments, for `get_config`.
        self._arguments = {
            "data_size": self.data_size,
            "latent_size": self.latent_size,
            "posterior": posterior,
            "num_flow_steps": self.num_flow_steps,
            "hidden_units": _plain(hidden),
            "context_size": context_size,
            "made_hidden_units": _plain(made_hidden_units),
            "seed": seed,
        }
        init = keras.initializers.GlorotUniform(seed=seed)
        self.encoder = keras.Sequential(
            [keras.Input((self.data_size,))]
            + [
                keras.layers.Dense(h, activation="elu", kernel_initializer=init)
                for h in hidden
            ],
            name="encoder",
        )
        feature_size = hidden[-1] if hidden else self.data_size
        self.posterior = make_posterior(
            posterior,
            self.latent_size,
            feature_size=feature_size,
            num_steps=num_flow_steps,
            context_size=context_size,
            hidden_units=made_hidden_units,
            seed=0 if seed is None else seed,
        )
        self.decoder = keras.Sequential(
            [keras.Input((self.latent_size,))]
            + [
                keras.layers.Dense(h, activation="elu", kernel_initializer=init)
                for h in hidden[::-1]
            ]
            + [keras.layers.Dense(self.data_size, kernel_initializer=init)],
            name="decoder",
        )
        self.noise = keras.random.SeedGenerator(seed)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        """Keras config (for saving): the constructor arguments."""
        config = super().get_config()
        config.update({k: _plain(v) for k, v in self._arguments.items()})
        return config

    def _check(self, x: TensorLike) -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        if x.shape.rank is not None and (
            x.shape.rank != 2 or x.shape[-1] not in (None, self.data_size)
        ):
            raise ValueError(
                f"VAE: argument `x` must have shape [batch, {self.data_size}] "
                f"(data_size={self.data_size}); got shape {shape_str(x.shape)}."
            )
        return tf.cast(x, self.compute_dtype)

    def posterior_of(self, x: TensorLike) -> FlowPosterior:
        """`q(z | x)`, a `FlowPosterior` with batch shape `[B]`."""
        return self.posterior(self.encoder(self._check(x)))

    def log_weights(
        self,
        x: TensorLike,
        num_samples: int | tf.Tensor = 1,
        seed: Seed | keras.random.SeedGenerator = None,
    ) -> tf.Tensor:
        """`log p(x, z_i) - log q(z_i | x)` for `z_i ~ q(z|x)`: `[num_samples, B]`."""
        if not isinstance(num_samples, (tf.Tensor, tf.Variable)):
            num_samples = check_positive_int(
                num_samples, "num_samples", "VAE.log_weights"
            )
        x = self._check(x)
        q = self.posterior(self.encoder(x))
        z, log_q = q.sample_and_log_prob(
            num_samples, seed=self.noise if seed is None else seed
        )
        logits = self.decoder(tf.reshape(z, [-1, self.latent_size]))
        logits = tf.reshape(logits, tf.concat([tf.shape(z)[:-1], [self.data_size]], 0))
        log_px_z = -tf.reduce_sum(
            tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.broadcast_to(x, tf.shape(logits)), logits=logits
            ),
            axis=-1,
        )
        log_pz = tf.reduce_sum(-0.5 * tf.square(z) - _HALF_LOG_2PI, axis=-1)
        return log_px_z + log_pz - log_q

    def call(self, inputs: TensorLike, training: bool | None = None) -> tf.Tensor:
        """The one-sample ELBO per example, `[B]`."""
        return self.log_weights(inputs, 1)[0]

    def compute_loss(
        self,
        x: TensorLike | None = None,
        y: TensorLike | None = None,
        y_pred: tf.Tensor | None = None,
        sample_weight: TensorLike | None = None,
        training: bool = True,
    ) -> tf.Tensor:
        """Negative mean ELBO (no targets needed), scaled per replica.

        Under `tf.distribute` each replica returns its loss divided by the
        replica count (Keras' convention, as `FlowModel.compute_loss` does), so
        the summed gradients are those of the global mean.
        """
        loss = -tf.reduce_mean(y_pred)
        if self.losses:
            loss += tf.add_n(self.losses)
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if num_replicas > 1:
            loss = loss * tf.cast(1.0 / num_replicas, loss.dtype)
        return loss

    def importance_weighted(
        self,
        x: TensorLike,
        num_samples: int = 1000,
        seed: Seed | keras.random.SeedGenerator = None,
    ) -> dict[str, tf.Tensor]:
        """ELBO and IWAE `log p(x)` estimates from `num_samples` samples per row.

        Returns:
          `{"elbo": [B], "log_px": [B]}`: the mean of the log weights (the
          ELBO, averaged over samples) and `logsumexp(log w) - log k`.
        """
        k = check_positive_int(num_samples, "num_samples", "VAE.importance_weighted")
        log_w = self.log_weights(x, k, seed=seed)
        return {
            "elbo": tf.reduce_mean(log_w, axis=0),
            "log_px": tf.reduce_logsumexp(log_w, axis=0)
            - tf.math.log(tf.cast(k, log_w.dtype)),
        }

    def evaluate_bounds(
        self,
        x: TensorLike,
        *,
        num_samples: int = 1000,
        batch_size: int = 20,
        seed: int = 0,
    ) -> dict[str, float]:
        """Mean test ELBO and IWAE log p(x) (nats) over `x`, compiled, in chunks."""
        owner = "VAE.evaluate_bounds"
        num_samples = check_positive_int(num_samples, "num_samples", owner)
        batch_size = check_positive_int(batch_size, "batch_size", owner)
        seed = checks.check_seed(seed, owner)
        fn = tf.function(
            lambda xb, s: self.importance_weighted(xb, num_samples, seed=s),
            jit_compile=True,
        )
        x = np.asarray(x, np.float32)
        elbo, log_px = [], []
        for i in range(0, len(x), batch_size):
            out = fn(tf.constant(x[i : i + batch_size]), tf.constant([seed, i]))
            elbo.append(out["elbo"].numpy())
            log_px.append(out["log_px"].numpy())
        return {
            "elbo": float(np.mean(np.concatenate(elbo))),
            "log_px": float(np.mean(np.concatenate(log_px))),
        }

    def reconstruct(self, x: TensorLike, seed: Seed = 0) -> tf.Tensor:
        """Bernoulli means of `p(x | z)` for one `z ~ q(z | x)`: `[B, data_size]`."""
        z = self.posterior_of(x).sample(seed=seed)
        return tf.sigmoid(self.decoder(z))

    def generate(self, n: int, seed: int = 0) -> tf.Tensor:
        """Bernoulli means of `p(x | z)` for `z ~ N(0, I)`: `[n, data_size]`."""
        n = check_positive_int(n, "n", "VAE.generate", 0)
        seed = checks.check_seed(seed, "VAE.generate")
        z = tf.random.stateless_normal([n, self.latent_size], seed=[seed, 1])
        return tf.sigmoid(self.decoder(z))
