"""PixelRNN samples follow the model's own distribution, checked exactly.

`test_pixel_rnn_distribution.py` checks that the cached and the uncached
samplers return the same images for the same seed; they share the noise, so
a bug common to both (a wrong conditional, an off-by-one in the raster
order, a channel read too early) passes that test. Here, on images small
enough to enumerate (at most 729 of them), the exact joint distribution
comes from `log_prob` of every image, and the empirical distribution of many
samples (one compiled call) is compared with it: per pixel and channel, and
over whole images (chi-square, fixed seeds, p > 1e-3).

The cached sampler (the default) is checked; the uncached one equals it
sample for sample (the test above), so it is covered too.

The weights are perturbed (fixed seed) so that the distribution is far from
uniform and the pixels depend on each other (a sampler that ignored the
already-drawn pixels would fail the joint test): `test_exact_distribution_*`
asserts both.
"""

import itertools

import numpy as np
import pytest

from tests.test_sampling_density import chi_square_pvalue
from tfp_flows import distributions

_NUM_SAMPLES = 20_000

# (layer type, levels, image shape, hidden units, output units, perturbation
# std). Levels 2 is the Bernoulli head (one logit per channel), 3 the softmax
# one. Each case costs one XLA compile of the sampling loop (~5 s on 2 cores).
_CASES = [
    pytest.param(("row", 3, (2, 2, 1), 4, 8, 0.5), id="row-3levels-2x2x1"),
    pytest.param(("diagonal", 2, (3, 2, 1), 4, 8, 0.5), id="diagonal-2levels-3x2x1"),
    # Colour channels: three per pixel, drawn channel by channel.
    pytest.param(("row", 2, (1, 2, 3), 3, 6, 0.7), id="row-2levels-1x2x3"),
    pytest.param(("diagonal", 3, (1, 2, 3), 3, 6, 0.5), id="diagonal-3levels-1x2x3"),
]


@pytest.fixture(scope="module", params=_CASES)
def case(request):
    layer_type, levels, shape, hidden, output, scale = request.param
    dist = distributions.pixel_rnn(
        shape,
        num_levels=levels,
        layer_type=layer_type,
        num_layers=1,
        hidden_units=hidden,
        output_units=output,
        seed=3,
    )
    rng = np.random.RandomState(0)
    for v in dist.trainable_variables:
        v.assign_add(rng.normal(scale=scale, size=v.shape.as_list()).astype("float32"))
    size = int(np.prod(shape))
    # Every image, in the order of its base-`levels` index (first pixel most
    # significant): image k has index k.
    images = np.array(list(itertools.product(range(levels), repeat=size)), np.int32)
    images = images.reshape((-1,) + shape)
    joint = np.exp(dist.log_prob(images).numpy().astype(np.float64))
    samples = dist.sample(_NUM_SAMPLES, seed=7).numpy()
    assert samples.shape == (_NUM_SAMPLES,) + shape and samples.dtype == np.int32
    return (
        dist,
        levels,
        images.reshape(len(images), size),
        joint,
        samples.reshape(_NUM_SAMPLES, size),
    )


def _marginals(levels, flat_images, joint):
    """`[pixels, levels]`: P(x_i = v), summing the joint over the other pixels."""
    return np.stack(
        [
            np.bincount(flat_images[:, i], weights=joint, minlength=levels)
            for i in range(flat_images.shape[1])
        ]
    )


def test_exact_distribution_is_normalized_far_from_uniform_and_dependent(case):
    dist, levels, flat, joint, _ = case
    np.testing.assert_allclose(joint.sum(), 1.0, atol=1e-5)
    marg = _marginals(levels, flat, joint)
    np.testing.assert_allclose(marg.sum(axis=1), 1.0, atol=1e-5)
    # The first pixel (first channel) has no context: its enumerated marginal
    # is the model's first conditional itself.
    only_first = np.zeros((levels, flat.shape[1]), np.int32)
    only_first[:, 0] = np.arange(levels)
    lp = dist.per_pixel_log_prob(only_first.reshape((levels,) + dist.event_shape))
    first = np.exp(lp.numpy().reshape(levels, -1)[:, 0].astype(np.float64))
    np.testing.assert_allclose(first, marg[0], rtol=1e-5)
    # Far from uniform, every level of every pixel still drawn often enough.
    uniform = np.full_like(joint, 1.0 / len(joint))
    assert 0.5 * np.abs(joint - uniform).sum() > 0.2
    assert marg.min() > 0.03 and marg.max() < 0.97, marg
    # Dependent pixels: the joint is far from the product of its marginals.
    product = np.prod(marg[np.arange(flat.shape[1]), flat], axis=1)
    assert 0.5 * np.abs(joint - product).sum() > 0.1


def test_per_pixel_marginals_of_samples_match_the_exact_ones(case):
    _, levels, flat, joint, samples = case
    marg = _marginals(levels, flat, joint)
    for i in range(flat.shape[1]):
        counts = np.bincount(samples[:, i], minlength=levels)
        assert len(counts) == levels  # no level out of range
        pvalue, _ = chi_square_pvalue(counts, marg[i] / marg[i].sum() * _NUM_SAMPLES)
        assert pvalue > 1e-3, (i, counts, marg[i] * _NUM_SAMPLES, pvalue)


def test_joint_histogram_of_samples_matches_log_prob(case):
    _, levels, flat, joint, samples = case
    index = samples @ (levels ** np.arange(flat.shape[1])[::-1])
    counts = np.bincount(index, minlength=len(joint))
    assert len(counts) == len(joint)
    pvalue, cells = chi_square_pvalue(counts, joint / joint.sum() * _NUM_SAMPLES)
    assert cells >= 10
    assert pvalue > 1e-3, (pvalue, cells)
