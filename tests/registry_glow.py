"""Registry entries for the Glow family."""

import tensorflow as tf

from tests.registry import Entry
from tfp_flows import bijectors as fb
from tfp_flows import flows

IMG = (4, 4, 2)


def _multi_scale(builder, **kw):
    def factory(dtype):
        return builder(
            IMG, num_levels=2, hidden_units=4, dtype=dtype, seed=3, **kw
        ).bijector

    return factory


ENTRIES = [
    Entry("act_norm_image", lambda d: fb.ActNorm(2, dtype=d), IMG, num_weights=2),
    Entry(
        "act_norm_vector",
        lambda d: fb.ActNorm(3, event_ndims=1, dtype=d),
        (3,),
        num_weights=2,
    ),
    Entry(
        "conv1x1_lu",
        lambda d: fb.Invertible1x1Conv(2, seed=0, dtype=d),
        IMG,
        num_weights=2,
    ),
    Entry(
        "conv1x1_plain",
        lambda d: fb.Invertible1x1Conv(2, lu_decomposition=False, seed=0, dtype=d),
        IMG,
        num_weights=1,
    ),
    Entry(
        "coupling_channel",
        lambda d: fb.AffineCoupling(2, hidden_units=4, seed=0, dtype=d),
        IMG,
        num_weights=7,
    ),
    Entry(
        "coupling_channel_parity1_odd",
        lambda d: fb.AffineCoupling(3, parity=1, hidden_units=4, seed=0, dtype=d),
        (4, 4, 3),
        num_weights=7,
    ),
    Entry(
        "coupling_checkerboard",
        lambda d: fb.AffineCoupling(
            2, mask="checkerboard", hidden_units=4, seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
    ),
    Entry(
        "coupling_additive",
        lambda d: fb.AdditiveCoupling(2, hidden_units=4, seed=0, dtype=d),
        IMG,
        num_weights=7,
    ),
    Entry(
        "coupling_vector",
        lambda d: fb.AffineCoupling(4, event_ndims=1, hidden_units=4, seed=0, dtype=d),
        (4,),
        num_weights=7,
    ),
    Entry(
        "spline_coupling_image_parity1_small_bound",  # inputs in both tails too
        lambda d: fb.SplineCoupling(
            3, num_bins=3, bound=1.0, parity=1, hidden_units=4, seed=0, dtype=d
        ),
        (4, 4, 3),
        num_weights=7,
        perturb=0.5,
    ),
    Entry(
        "spline_coupling_vector",
        lambda d: fb.SplineCoupling(
            4, num_bins=4, event_ndims=1, hidden_units=4, seed=0, dtype=d
        ),
        (4,),
        num_weights=7,
        perturb=0.5,
    ),
    Entry("squeeze", lambda d: fb.Squeeze(), IMG, num_weights=0),
    Entry(
        "glow_step",
        lambda d: fb.GlowStep(2, hidden_units=4, seed=0, dtype=d),
        IMG,
        num_weights=2 + 2 + 7,
    ),
    # One stacked weight per GlowStep weight (K = 2 steps on a leading axis).
    Entry(
        "glow_steps",
        lambda d: fb.GlowSteps(2, 2, hidden_units=4, seed=0, dtype=d),
        IMG,
        num_weights=2 + 2 + 7,
    ),
    Entry(
        "glow_steps_plain_additive_not_reversible",
        lambda d: fb.GlowSteps(
            2,
            2,
            hidden_units=4,
            lu_decomposition=False,
            additive=True,
            reversible=False,
            seed=0,
            dtype=d,
        ),
        IMG,
        num_weights=2 + 1 + 7,
    ),
    # Conditional: every coupling network sees the context (issue #16); the
    # checks bind a context and ask for its gradient too (reversible).
    Entry(
        "glow_steps_vector_context",
        lambda d: fb.GlowSteps(
            2, 2, hidden_units=4, context_shape=(3,), seed=0, dtype=d
        ),
        IMG,
        num_weights=2 + 2 + 7,
        context_shape=(3,),
    ),
    Entry(
        "glow_steps_image_context_not_reversible",  # 8x8 context pooled to 4x4
        lambda d: fb.GlowSteps(
            2,
            2,
            hidden_units=4,
            context_shape=(8, 8, 1),
            reversible=False,
            seed=0,
            dtype=d,
        ),
        IMG,
        num_weights=2 + 2 + 7,
        context_shape=(8, 8, 1),
        slow=True,
    ),
    # Mixed precision needs float32 weights: the float64 run of this entry
    # checks the same bijector without a policy (the float64-only
    # autodiff-Jacobian check thus runs on it in float64 compute).
    Entry(
        "glow_steps_mixed_bfloat16",
        lambda d: fb.GlowSteps(
            2,
            2,
            hidden_units=4,
            seed=0,
            dtype=d,
            dtype_policy="mixed_bfloat16" if d == tf.float32 else None,
        ),
        IMG,
        num_weights=2 + 2 + 7,
        # XLA's CPU convolutions round bfloat16 differently from TensorFlow's
        # (measured: worst 1.9e-3 at a value of 1.45, 1.3e-3 relative, under
        # bfloat16's 2**-8 = 3.9e-3); the other checks pass at the default.
        tolerances={("xla", "float32"): dict(rtol=1e-2, atol=1e-2)},
    ),
    # 2 levels x 1 step x 11 weights + split prior (3) + learned top (2).
    Entry("glow", _multi_scale(flows.glow, num_steps=1), IMG, num_weights=27),
    # level 0: 1 checkerboard + 1 channel coupling, each with ActNorm (2 x 9);
    # last level: 4 checkerboard (4 x 9); split prior 3; top 2.
    Entry("realnvp", _multi_scale(flows.realnvp, num_couplings=1), IMG, num_weights=59),
]
