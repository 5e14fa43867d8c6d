"""Registry entries of the autoregressive bijectors (MAF, IAF and their stacks)."""

import numpy as np

from tests.registry import Entry
from tfp_flows.bijectors.maf import IAF
from tfp_flows.bijectors.maf import MAF
from tfp_flows.nn.made import MADE


def _made(dtype, d=4, **kwargs):
    kwargs.setdefault("hidden_units", [6])
    kwargs.setdefault("output_initializer", "glorot_uniform")
    return MADE(d, dtype=dtype.name, **kwargs)


def _context(dtype, c=2):
    return np.linspace(-1.0, 1.0, c).astype(dtype.as_numpy_dtype)


def _stack(kind, dtype, **kwargs):
    from tfp_flows.flows.autoregressive import iaf
    from tfp_flows.flows.autoregressive import maf

    builder = maf if kind == "maf" else iaf
    return builder(
        4, num_layers=2, hidden_units=[6], dtype=dtype.name, seed=3, **kwargs
    ).bijector


ENTRIES = [
    Entry("maf_affine", lambda dt: MAF(_made(dt)), (4,), num_weights=4),
    Entry(
        "maf_affine_unbounded_direct_random_order",
        lambda dt: MAF(
            _made(
                dt, hidden_units=[5, 5], direct_connections=True, input_order="random"
            ),
            log_scale_bound=None,
        ),
        (4,),
        num_weights=7,
    ),
    Entry(
        "maf_gated", lambda dt: MAF(_made(dt), transform="gated"), (4,), num_weights=4
    ),
    Entry("iaf_gated", lambda dt: IAF(_made(dt, input_order=[2, 0, 3, 1])), (4,), 4),
    Entry(
        "iaf_affine_random_degrees",
        lambda dt: IAF(_made(dt, hidden_degrees="random", seed=2), transform="affine"),
        (4,),
        num_weights=4,
    ),
    Entry(
        "maf_conditional",
        lambda dt: MAF(_made(dt, context_size=2), context=_context(dt)),
        (4,),
        num_weights=5,
    ),
    Entry(
        "iaf_conditional_two_masks",
        lambda dt: IAF(
            _made(dt, context_size=2, num_masks=2, input_order="random"),
            context=_context(dt),
        ),
        (4,),
        num_weights=5,
    ),
    Entry(
        "maf_spline_small_bound",  # the range [-1, 1]: inputs in both tails
        lambda dt: MAF(
            _made(dt, num_params=3 * 3 - 1, direct_connections=True),
            transform="spline",
            num_bins=3,
            spline_bound=1.0,
        ),
        (4,),
        num_weights=5,
    ),
    Entry(
        "iaf_spline_conditional",
        lambda dt: IAF(
            _made(dt, num_params=3 * 4 - 1, context_size=2),
            transform="spline",
            num_bins=4,
            context=_context(dt),
        ),
        (4,),
        num_weights=5,
    ),
    Entry("maf_stack", lambda dt: _stack("maf", dt), (4,), num_weights=8),
    Entry(
        "iaf_stack_random_permutation",
        lambda dt: _stack("iaf", dt, permutation="random"),
        (4,),
        num_weights=8,
    ),
]

# Neural autoregressive flows (Huang et al. 2018): the sigmoidal transformers.
# MAF sampling and IAF density solve them numerically (bracketed Newton);
# the MAF entries pass the far-out round trip at the default scales 1 to 1000.
ENTRIES += [
    Entry(
        "maf_sigmoidal",
        lambda dt: MAF(
            _made(dt, num_params=3 * 4), transform="sigmoidal", num_hidden_sigmoids=4
        ),
        (4,),
        num_weights=4,
        inverse_is_numerical=True,
    ),
    Entry(
        "iaf_sigmoidal_two_layers_conditional",
        lambda dt: IAF(
            _made(dt, num_params=3 * 3 * 2, context_size=2),
            transform="sigmoidal",
            num_hidden_sigmoids=3,
            sigmoid_layers=2,
            context=_context(dt),
        ),
        (4,),
        num_weights=5,
        inverse_is_numerical=True,
        # IAF's density direction is D sequential solves, and an error in one
        # dimension reaches the next through the MADE, amplified at each: in
        # float32 off by 3% at input scale 100 (rtol 1e-4 asked), float64 exact.
        # Not the sigmoidal solve (its residual is at float resolution): the
        # exact affine IAF (`iaf_affine_random_degrees`) misses this check from
        # scale 10 in float32 too, the gated IAF gives NaN from scale 100.
        far_out_scales=(1.0, 3.0, 10.0),
    ),
    Entry(
        "maf_dense_sigmoidal_direct",
        lambda dt: MAF(
            _made(dt, num_params=2 * 3 * 3 + 5 * 3, direct_connections=True),
            transform="dense_sigmoidal",
            num_hidden_sigmoids=3,
            sigmoid_layers=2,
        ),
        (4,),
        num_weights=5,
        inverse_is_numerical=True,
    ),
    Entry(
        "iaf_dense_sigmoidal_stack",
        lambda dt: _stack(
            "iaf",
            dt,
            transform="dense_sigmoidal",
            num_hidden_sigmoids=2,
            sigmoid_layers=3,
        ),
        (4,),
        num_weights=8,
        inverse_is_numerical=True,
        # IAF's sequential density direction, two layers: as
        # `iaf_sigmoidal_two_layers_conditional`, off from input scale 100
        # (float32 by 2%, float64 by 1e-8 relative).
        far_out_scales=(1.0, 3.0, 10.0),
    ),
]
