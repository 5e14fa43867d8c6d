"""Sampling and density agree, for every vector flow family the package builds.

For each builder of `tfp_flows.flows` that makes a flow on vectors (`maf`,
`iaf`, `coupling_flow`, `planar_flow`, `radial_flow`, `sylvester_flow`; MAF
and IAF with each transform, and a conditional MAF bound to one context),
a 2-D flow in float64 with every weight moved far from its (often
identity) initialization, with fixed seeds, must have

1. `exp(log_prob)` integrating to 1 on a grid (to 1e-3), and
2. samples whose histogram matches that density (chi-square, p > 1e-3).

The first fails on a wrong log-det (sign, missing term, wrong event dims); the
second on a sampler that does not invert the density's transform (a forward
pass that disagrees with `inverse`, a wrong ordering or permutation).

Grid: midpoints of `_N x _N` cells on `[-_LIMIT, _LIMIT]^2` (cell side
0.025). The base is a standard normal and the perturbations are sized so that
every flow keeps its mass inside the box (checked below through the samples:
at most 1e-4 of them fall outside); then the midpoint sum's error is the
mass outside the box plus an `O(h^2)` term of about 1e-6 for these densities
(spline densities are only continuous, not smooth, at the knots: still well
under 1e-4). Measured `|sum - 1|`: at most 3e-5 (the ActNorm coupling flow,
whose tails come closest to the box edge), 1e-5 or less for the others.

Cost: one `tf.function` trace of `log_prob` on the whole grid (313,600
points, one vectorized call) and one of `sample` per flow.
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfp_flows import flows
from tfp_flows.internal.keras import keras

F64 = tf.float64
_LIMIT = 7.0
_N = 560  # cells per axis: side 2 * 7 / 560 = 0.025
_COARSE = 20  # fine cells per histogram bin side: 28 x 28 bins of side 0.5
_NUM_SAMPLES = 50_000


def chi_square_pvalue(counts, expected, min_expected=5.0):
    """Pearson's chi-square p-value, pooling the cells expected below `min_expected`.

    Cells with expected counts below `min_expected` are pooled into one cell
    (and, if that pool is itself below `min_expected`, into the smallest
    remaining cell), the usual validity condition of the chi-square
    approximation. `counts` and `expected` must have the same total.
    """
    counts = np.asarray(counts, np.float64).ravel()
    expected = np.asarray(expected, np.float64).ravel()
    np.testing.assert_allclose(counts.sum(), expected.sum(), rtol=1e-9)
    small = expected < min_expected
    c, e = list(counts[~small]), list(expected[~small])
    if small.any():
        pool_c, pool_e = counts[small].sum(), expected[small].sum()
        if pool_e >= min_expected or not e:
            c.append(pool_c)
            e.append(pool_e)
        else:
            i = int(np.argmin(e))
            c[i] += pool_c
            e[i] += pool_e
    c, e = np.array(c), np.array(e)
    assert len(c) >= 2, "need at least two cells"
    statistic = np.sum((c - e) ** 2 / e)
    return float(stats.chi2.sf(statistic, len(c) - 1)), len(c)


# name -> (builder, std of the weight perturbation). The perturbations are as
# large as the grid allows: affine flows have unbounded scales, so small
# noise already spreads them; the bounded ones (gated, planar, radial,
# Sylvester) take larger noise; ActNorm's unbounded scales need less.
# `test_flow_is_far_from_its_base` checks that each one moves the density far
# from the base.
CASES = {
    "maf_affine": (
        lambda: flows.maf(2, num_layers=2, hidden_units=[8], dtype=F64, seed=1),
        0.15,
    ),
    "maf_gated_actnorm": (
        lambda: flows.maf(
            2,
            num_layers=2,
            hidden_units=[8],
            transform="gated",
            actnorm=True,
            dtype=F64,
            seed=1,
        ),
        0.25,
    ),
    "maf_spline": (
        lambda: flows.maf(
            2,
            num_layers=2,
            hidden_units=[8],
            transform="spline",
            num_bins=4,
            dtype=F64,
            seed=1,
        ),
        0.3,
    ),
    "maf_conditional": (
        lambda: flows.maf(
            2, num_layers=2, hidden_units=[8], context_size=3, dtype=F64, seed=1
        ).condition(tf.constant([0.5, -1.0, 2.0], F64)),
        0.15,
    ),
    "iaf_gated": (
        lambda: flows.iaf(2, num_layers=2, hidden_units=[8], dtype=F64, seed=1),
        1.0,
    ),
    "iaf_affine": (
        lambda: flows.iaf(
            2, num_layers=2, hidden_units=[8], transform="affine", dtype=F64, seed=1
        ),
        0.15,
    ),
    "iaf_spline": (
        lambda: flows.iaf(
            2,
            num_layers=2,
            hidden_units=[8],
            transform="spline",
            num_bins=4,
            dtype=F64,
            seed=1,
        ),
        0.3,
    ),
    "coupling_affine_actnorm": (
        lambda: flows.coupling_flow(
            2, num_layers=3, hidden_units=8, actnorm=True, dtype=F64, seed=1
        ),
        0.08,
    ),
    "coupling_spline": (
        lambda: flows.coupling_flow(
            2,
            num_layers=2,
            hidden_units=8,
            transform="spline",
            num_bins=4,
            dtype=F64,
            seed=1,
        ),
        0.2,
    ),
    "planar_tanh": (lambda: flows.planar_flow(2, num_layers=3, dtype=F64, seed=1), 0.5),
    "planar_leaky_relu": (
        lambda: flows.planar_flow(
            2, num_layers=3, activation="leaky_relu", dtype=F64, seed=1
        ),
        0.5,
    ),
    "radial": (lambda: flows.radial_flow(2, num_layers=3, dtype=F64, seed=1), 0.5),
    "sylvester": (
        lambda: flows.sylvester_flow(2, num_layers=2, dtype=F64, seed=1),
        0.5,
    ),
}


def _grid():
    h = 2 * _LIMIT / _N
    centers = -_LIMIT + h * (np.arange(_N) + 0.5)
    x, y = np.meshgrid(centers, centers, indexing="ij")
    return np.stack([x.ravel(), y.ravel()], -1), h


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    """(name, density on the grid [_N, _N], cell side, samples [S, 2])."""
    name = request.param
    build, scale = CASES[name]
    # MADE's and the coupling nets' hidden kernels draw from Keras' global
    # generator: fix it so that the weights do not depend on test order.
    keras.utils.set_random_seed(0)
    flow = build()
    rng = np.random.RandomState(0)
    variables = flow.trainable_variables
    assert variables, name
    for v in variables:
        v.assign_add(rng.normal(scale=scale, size=v.shape.as_list()))
    points, h = _grid()
    log_prob = tf.function(flow.log_prob)(tf.constant(points, F64)).numpy()
    samples = tf.function(lambda: flow.sample(_NUM_SAMPLES, seed=[1, 2]))().numpy()
    assert log_prob.dtype == np.float64 and samples.shape == (_NUM_SAMPLES, 2)
    return name, np.exp(log_prob).reshape(_N, _N), h, samples


def test_density_integrates_to_one_on_the_grid(case):
    name, p, h, samples = case
    assert np.all(np.isfinite(p)), name
    outside = np.mean(np.any(np.abs(samples) >= _LIMIT, axis=-1))
    assert outside <= 1e-4, f"{name}: {outside:.1e} of the samples leave the grid"
    integral = p.sum() * h * h
    assert abs(integral - 1.0) < 1e-3, f"{name}: integral {integral:.6f}"


def test_flow_is_far_from_its_base(case):
    # Total variation distance to the base N(0, I) > 0.1 (measured: 0.12 for
    # the affine MAF/IAF, whose scales are unbounded and which the grid
    # limits to small noise, 0.19 to 0.57 for the others): the perturbed flow
    # is far from the identity, so the other checks test its transform.
    name, p, h, _ = case
    points, _ = _grid()
    base = np.exp(-0.5 * np.sum(points**2, -1)).reshape(_N, _N) / (2 * np.pi)
    tv = 0.5 * np.abs(p - base).sum() * h * h
    assert tv > 0.1, f"{name}: TV distance to the base only {tv:.3f}"


def test_sample_histogram_matches_density(case):
    name, p, h, samples = case
    n = _N // _COARSE
    # Expected mass per 0.5 x 0.5 bin: the fine-grid sums inside it.
    mass = p.reshape(n, _COARSE, n, _COARSE).sum(axis=(1, 3)) * h * h
    edges = np.linspace(-_LIMIT, _LIMIT, n + 1)
    counts, _, _ = np.histogram2d(samples[:, 0], samples[:, 1], bins=[edges, edges])
    # Samples outside the grid and the density's missing mass form one more cell.
    counts = np.append(counts.ravel(), len(samples) - counts.sum())
    mass = np.append(mass.ravel(), max(1.0 - mass.sum(), 0.0))
    expected = mass / mass.sum() * len(samples)
    pvalue, cells = chi_square_pvalue(counts, expected)
    assert cells >= 50, f"{name}: only {cells} cells"
    assert pvalue > 1e-3, f"{name}: chi-square p = {pvalue:.2e} over {cells} cells"
