"""Rational-quadratic spline coupling (Durkan et al. 2019, RQ-NSF (C))."""

from typing import Any

import tensorflow as tf

from tfp_flows.bijectors._spline import check_spline_args
from tfp_flows.bijectors._spline import num_spline_params
from tfp_flows.bijectors._spline import rq_spline
from tfp_flows.bijectors._spline import rq_spline_inverse
from tfp_flows.bijectors.affine_coupling import AffineCoupling

__all__ = ["SplineCoupling"]


class SplineCoupling(AffineCoupling):
    """Coupling layer whose transform is a monotone rational-quadratic spline.

    As `AffineCoupling` with the half/channel mask, but each channel of `x_b`
    goes through its own spline of `num_bins` bins on `[-bound, bound]`
    (identity outside), with widths, heights and knot derivatives computed
    from `x_a` by the network (`3 * num_bins - 1` outputs per channel,
    channel-major: output `j * (3K - 1) + p` is parameter `p` of channel `j`).
    In the data-to-latent direction (`inverse`, the one `log_prob` uses) the
    spline is applied directly, `z_b = g(x_b; theta(x_a))`; `forward`
    (sampling) inverts it in closed form (a quadratic per element). The
    default network's last layer starts at zero, so a fresh layer is the
    identity.

    Args:
      num_channels: C (images) or D (vectors).
      num_bins: K, the spline's bins (>= 2).
      bound: B > 0; the spline maps `[-B, B]` onto itself.
      mask: `'channel'` / `'half'` (the only masks supported).
      **kwargs: as `AffineCoupling` (`parity`, `network`, `hidden_units`,
        `event_ndims`, `context_shape` (a conditional spline coupling: the
        network sees `x_a` and the context), `seed`, `dtype`,
        `validate_args`, `name`).

    #### Examples

    >>> cpl = SplineCoupling(2, num_bins=4, event_ndims=1, hidden_units=8, seed=0)
    >>> x = tf.constant([[0.5, -1.0], [4.0, 2.0]])
    >>> bool(tf.reduce_max(tf.abs(cpl.forward(cpl.inverse(x)) - x)) < 1e-5)
    True

    #### References

    Durkan, Bekasov, Murray, Papamakarios. Neural Spline Flows. NeurIPS 2019.
    https://arxiv.org/abs/1906.04032
    """

    def __init__(
        self,
        num_channels: int,
        *,
        num_bins: int = 8,
        bound: float = 3.0,
        mask: str = "channel",
        **kwargs: Any,
    ):
        owner = "SplineCoupling"
        check_spline_args(owner, num_bins, bound, "bound")
        if mask not in ("channel", "half"):
            raise ValueError(
                f"{owner}: argument `mask` must be 'channel' or 'half' (the spline "
                f"coupling has no checkerboard variant); got {mask!r}."
            )
        if kwargs.get("additive"):
            raise ValueError(f"{owner}: argument `additive` is not supported.")
        self._num_bins = num_bins
        self._bound = float(bound)
        kwargs.setdefault("name", "spline_coupling")
        super().__init__(num_channels, mask=mask, **kwargs)
        self._parameters.update(num_bins=num_bins, bound=bound)

    def _params_per_channel(self) -> int:
        return num_spline_params(self._num_bins)

    @property
    def num_bins(self) -> int:
        """K, the spline's bins."""
        return self._num_bins

    @property
    def bound(self) -> float:
        """The spline acts on `[-bound, bound]` (identity outside)."""
        return self._bound

    def _transform(self, x: tf.Tensor, inverse: bool) -> tuple[tf.Tensor, tf.Tensor]:
        self._check(x, "y" if inverse else "x")
        x, ctx = self._with_context_batch(x)
        x_a, x_b = self._split(x)
        h = self._run_network(x_a, ctx)
        raw = tf.reshape(
            h, tf.concat([tf.shape(x_b), [self._params_per_channel()]], axis=0)
        )
        spline = rq_spline if inverse else rq_spline_inverse
        out_b, log_det = spline(x_b, raw, self._bound)
        ldj = self._reduce(log_det)
        return self._merge(x_a, out_b), (ldj if inverse else -ldj)
