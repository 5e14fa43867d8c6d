"""Registry entries for the conditional bijectors (issue #14).

Each entry is checked by `check_bijector(..., context_shape=...)`: every check
binds a standard normal context with the batch of its inputs, the gradient
check also asks for a non-zero gradient with respect to the context and for
every weight (the conditioning parts included), and XLA traces the context
as a second input with an unknown batch. The default phase runs one entry per
kind of context (vector, image, vector events, a Glow step); CI's slow phase
the others.
"""

from tests.registry import Entry
from tfp_flows import bijectors as fb
from tfp_flows import flows

IMG = (4, 4, 2)


def _multi_scale(builder, **kw):
    def factory(dtype):
        family = builder(IMG, num_levels=2, hidden_units=4, dtype=dtype, seed=3, **kw)
        return family.bijectors[0]  # the conditional MultiScale

    return factory


ENTRIES = [
    Entry(
        "coupling_channel_vector_context",
        lambda d: fb.AffineCoupling(
            2, hidden_units=4, context_shape=(3,), seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
        context_shape=(3,),
    ),
    Entry(
        "coupling_checkerboard_vector_context",
        lambda d: fb.AffineCoupling(
            2, mask="checkerboard", hidden_units=4, context_shape=(3,), seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
        context_shape=(3,),
        slow=True,
    ),
    Entry(
        "coupling_image_context_downsampled",  # 8x8 context, pooled to 4x4
        lambda d: fb.AffineCoupling(
            2, parity=1, hidden_units=4, context_shape=(8, 8, 1), seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
        context_shape=(8, 8, 1),
    ),
    Entry(
        "coupling_image_context_upsampled",  # 2x2 context, repeated to 4x4
        lambda d: fb.AffineCoupling(
            2, hidden_units=4, context_shape=(2, 2, 3), seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
        context_shape=(2, 2, 3),
        slow=True,
    ),
    Entry(
        "coupling_additive_vector_context",
        lambda d: fb.AdditiveCoupling(
            2, hidden_units=4, context_shape=(3,), seed=0, dtype=d
        ),
        IMG,
        num_weights=7,
        context_shape=(3,),
        slow=True,
    ),
    Entry(
        "coupling_vector_events_context",
        lambda d: fb.AffineCoupling(
            4, event_ndims=1, hidden_units=4, context_shape=(3,), seed=0, dtype=d
        ),
        (4,),
        num_weights=7,
        context_shape=(3,),
    ),
    Entry(
        "spline_coupling_vector_context",
        lambda d: fb.SplineCoupling(
            4,
            num_bins=4,
            event_ndims=1,
            hidden_units=4,
            context_shape=(3,),
            seed=0,
            dtype=d,
        ),
        (4,),
        num_weights=7,
        perturb=0.5,
        context_shape=(3,),
        slow=True,
    ),
    Entry(
        "spline_coupling_image_context",
        lambda d: fb.SplineCoupling(
            3,
            num_bins=3,
            bound=1.0,
            hidden_units=4,
            context_shape=(2,),
            seed=0,
            dtype=d,
        ),
        (4, 4, 3),
        num_weights=7,
        perturb=0.5,
        context_shape=(2,),
        slow=True,
    ),
    Entry(
        "glow_step_vector_context",
        lambda d: fb.GlowStep(2, hidden_units=4, context_shape=(3,), seed=0, dtype=d),
        IMG,
        num_weights=2 + 2 + 7,
        context_shape=(3,),
    ),
    # glow's 27 weights + the top prior's ycond Dense (kernel, bias, logs).
    Entry(
        "glow_class_conditional",
        _multi_scale(flows.glow, num_steps=1, context_size=3),
        IMG,
        num_weights=30,
        context_shape=(3,),
        slow=True,
    ),
    # The same with an 8x8x1 image context: the top conv (3 weights).
    Entry(
        "glow_image_conditional",
        _multi_scale(flows.glow, num_steps=1, context_shape=(8, 8, 1)),
        IMG,
        num_weights=30,
        context_shape=(8, 8, 1),
        slow=True,
    ),
    Entry(
        "realnvp_class_conditional",
        _multi_scale(flows.realnvp, num_couplings=1, context_size=3),
        IMG,
        num_weights=62,
        context_shape=(3,),
        slow=True,
    ),
]
