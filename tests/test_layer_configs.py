"""Every public Keras layer and model round-trips through its config.

For each one, built with non-default arguments: the config is JSON, holds
those arguments, `from_config` rebuilds a layer whose config is the same,
and with the original's weights the rebuilt layer computes the same outputs.
Registered classes also go through `keras.saving.serialize_keras_object` /
`deserialize_keras_object(safe_mode=True)` (what `.keras` files use).
"""

import inspect
import json

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows import distributions
from tfp_flows import flows
from tfp_flows.internal.keras import keras
from tfp_flows.layers import DiagonalBiLSTM
from tfp_flows.layers import DiagonalGaussianPosterior
from tfp_flows.layers import FlowLogProb
from tfp_flows.layers import FlowModel
from tfp_flows.layers import FlowSample
from tfp_flows.layers import IAFPosterior
from tfp_flows.layers import MaskedConv2D
from tfp_flows.layers import PixelRNN
from tfp_flows.layers import PlanarPosterior
from tfp_flows.layers import RowLSTM
from tfp_flows.nn import MADE
from tfp_flows.nn import CausalConv1D
from tfp_flows.nn import GatedPixelCNN
from tfp_flows.nn import WaveNet
from tfp_flows.nn import WaveNetResidualBlock
from tfp_flows.saving import load_flow_model
from tfp_flows.vae import VAE
from tfp_flows.vae import HouseholderPosterior

_RNG = np.random.RandomState(0)
_IMG = _RNG.normal(size=(2, 4, 5, 6)).astype("float32")  # 6 = 2 * 3 colours
_LEVELS = _RNG.randint(0, 5, size=(2, 4, 4, 3)).astype("int32")
_FEATURES = _RNG.normal(size=(3, 6)).astype("float32")
_X2 = _RNG.normal(size=(4, 2)).astype("float32")
_CTX = _RNG.normal(size=(2, 3)).astype("float32")
_SEQ = _RNG.normal(size=(2, 7, 4)).astype("float32")
_SEQ_LEVELS = _RNG.randint(0, 8, size=(2, 8)).astype("int32")
_LOCAL = _RNG.normal(size=(2, 4, 2)).astype("float32")


def _posterior_outputs(layer):
    q = layer(_FEATURES)
    z, log_q = q.sample_and_log_prob(2, seed=[1, 2])
    return [z, log_q, q.log_prob(z)]


# name -> (factory, outputs(layer), arguments the config must hold)
CASES = {
    "RowLSTM": (
        lambda: RowLSTM(6, kernel_size=5, color_channels=3, context_size=3, seed=4),
        lambda layer: layer(_IMG[:, :, :, :6], context=_CTX),
        {
            "units": 6,
            "kernel_size": 5,
            "color_channels": 3,
            "context_size": 3,
            "seed": 4,
        },
    ),
    "DiagonalBiLSTM": (
        lambda: DiagonalBiLSTM(6, color_channels=3, context_size=3, seed=5),
        lambda layer: layer(_IMG, context=_CTX),
        {"units": 6, "color_channels": 3, "context_size": 3, "seed": 5},
    ),
    "PixelRNN": (
        lambda: PixelRNN(
            (4, 4, 3),
            num_levels=5,
            layer_type="row",
            num_layers=1,
            hidden_units=3,
            output_units=6,
            kernel_size=5,
            context_size=3,
            seed=6,
        ),
        lambda layer: layer(_LEVELS, context=_CTX),
        {
            "image_shape": (4, 4, 3),
            "num_levels": 5,
            "layer_type": "row",
            "num_layers": 1,
            "hidden_units": 3,
            "output_units": 6,
            "kernel_size": 5,
            "context_size": 3,
            "seed": 6,
        },
    ),
    "MaskedConv2D": (
        lambda: MaskedConv2D(
            6, (3, 5), mask_type="A", color_channels=3, activation="relu"
        ),
        lambda layer: layer(_IMG),
        {"filters": 6, "kernel_size": (3, 5), "mask_type": "A", "color_channels": 3},
    ),
    "GatedPixelCNN": (
        lambda: GatedPixelCNN(
            (4, 4, 3),
            num_levels=5,
            num_layers=2,
            filters=6,
            kernel_size=3,
            input_kernel_size=3,
            output_units=6,
            context_size=3,
            seed=3,
        ),
        lambda layer: layer(_LEVELS, context=_CTX),
        {
            "image_shape": (4, 4, 3),
            "num_levels": 5,
            "num_layers": 2,
            "filters": 6,
            "input_kernel_size": 3,
            "output_units": 6,
            "context_size": 3,
            "seed": 3,
        },
    ),
    "MADE": (
        lambda: MADE(
            3, num_params=2, hidden_units=[8], context_size=3, num_masks=2, seed=1
        ),
        lambda layer: layer(_X2[:2, :1].repeat(3, axis=1), context=_CTX),
        {"event_size": 3, "num_params": 2, "context_size": 3, "num_masks": 2},
    ),
    "CausalConv1D": (
        lambda: CausalConv1D(5, 3, dilation_rate=2, seed=1),
        lambda layer: layer(_SEQ),
        {"filters": 5, "kernel_size": 3, "dilation_rate": 2, "seed": 1},
    ),
    "WaveNetResidualBlock": (
        lambda: WaveNetResidualBlock(
            4, skip_channels=6, dilation_rate=2, context_size=3, seed=2
        ),
        lambda layer: layer(_SEQ, context=_CTX),
        {"residual_channels": 4, "skip_channels": 6, "dilation_rate": 2, "seed": 2},
    ),
    "WaveNet": (
        lambda: WaveNet(
            num_levels=8,
            residual_channels=4,
            skip_channels=6,
            dilations=(1, 2),
            context_size=3,
            local_channels=2,
            local_upsample_factor=2,
            seed=4,
        ),
        lambda layer: layer(_SEQ_LEVELS, context=_CTX, local_context=_LOCAL),
        {
            "num_levels": 8,
            "residual_channels": 4,
            "skip_channels": 6,
            "dilations": [1, 2],
            "context_size": 3,
            "local_channels": 2,
            "local_upsample_factor": 2,
            "seed": 4,
        },
    ),
    "HouseholderPosterior": (
        lambda: HouseholderPosterior(2, feature_size=6, num_steps=3, seed=1),
        _posterior_outputs,
        {"latent_size": 2, "feature_size": 6, "num_steps": 3, "seed": 1},
    ),
    "DiagonalGaussianPosterior": (
        lambda: DiagonalGaussianPosterior(2, feature_size=6, min_scale=0.01),
        _posterior_outputs,
        {"latent_size": 2, "feature_size": 6, "min_scale": 0.01},
    ),
    "IAFPosterior": (
        lambda: IAFPosterior(
            3, feature_size=6, num_steps=2, context_size=4, hidden_units=[8], seed=2
        ),
        _posterior_outputs,
        {"latent_size": 3, "num_steps": 2, "context_size": 4, "seed": 2},
    ),
    "PlanarPosterior": (
        lambda: PlanarPosterior(2, feature_size=6, num_steps=3, context_size=3, seed=1),
        _posterior_outputs,
        {"latent_size": 2, "num_steps": 3, "context_size": 3, "seed": 1},
    ),
    "FlowLogProb": (
        lambda: FlowLogProb(flows.maf(2, num_layers=2, hidden_units=[8], seed=3)),
        lambda layer: layer(_X2),
        {},
    ),
    "FlowSample": (
        lambda: FlowSample(
            flows.maf(2, num_layers=2, hidden_units=[8], seed=3),
            seed=7,
            temperature=0.5,
        ),
        lambda layer: layer(_X2),
        {"seed": 7, "temperature": 0.5},
    ),
    "FlowModel": (
        lambda: FlowModel(
            flows.maf(2, num_layers=2, hidden_units=[8], context_size=3, seed=3)
        ),
        lambda layer: layer((_X2[:2], _CTX)),
        {},
    ),
    "FlowModel(pixel_rnn)": (
        lambda: FlowModel(
            distributions.pixel_rnn(
                (4, 4, 3), num_levels=5, hidden_units=3, output_units=6, seed=2
            )
        ),
        lambda layer: layer(_LEVELS),
        {},
    ),
    "VAE": (
        lambda: VAE(
            6,
            latent_size=2,
            posterior="iaf",
            num_flow_steps=2,
            hidden_units=[8],
            context_size=4,
            made_hidden_units=[8],
            seed=3,
        ),
        lambda layer: layer.log_weights(_FEATURES, 2, seed=[1, 2]),
        {
            "data_size": 6,
            "latent_size": 2,
            "posterior": "iaf",
            "num_flow_steps": 2,
            "hidden_units": [8],
            "context_size": 4,
            "made_hidden_units": [8],
            "seed": 3,
        },
    ),
}


def _as_list(outputs):
    return [np.asarray(o) for o in tf.nest.flatten(outputs)]


def _json(config):
    """`config` after a JSON round trip (as a `.keras` file stores it)."""
    return json.loads(json.dumps(keras.saving.serialize_keras_object(config)))


def _same_arguments(got, want):
    for key, value in want.items():
        g = got[key]
        if isinstance(value, (list, tuple)):
            assert list(g) == list(value), key
        else:
            assert g == value, key


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip(name):
    factory, outputs, arguments = CASES[name]
    layer = factory()
    expected = _as_list(outputs(layer))
    config = layer.get_config()
    json.dumps(config)  # plain JSON: no objects, no code
    _same_arguments(config, arguments)
    if "flow_spec" in config:
        assert json.loads(config["flow_spec"])["builder"] in ("maf", "pixel_rnn")

    rebuilt = type(layer).from_config(config)
    if not rebuilt.built:
        outputs(rebuilt)  # creates the weights a layer builds on first call
    assert rebuilt.get_config() == config
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in layer.weights]
    # FlowSample: the rebuilt layer's fresh seed generator repeats the
    # original's first draw.
    rebuilt.set_weights(layer.get_weights())
    for got, want in zip(_as_list(outputs(rebuilt)), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_serialization_round_trip(name):
    factory, _, _ = CASES[name]
    layer = factory()
    serialized = _json(layer)
    assert serialized["registered_name"].startswith("tfp_flows>")
    restored = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()


def test_vae_keras_file_round_trip(tmp_path):
    factory, outputs, _ = CASES["VAE"]
    model = factory()
    path = tmp_path / "vae.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, VAE)
    # Every model the command writes reloads through load_flow_model.
    assert isinstance(load_flow_model(path, expected_builder="vae"), VAE)
    with pytest.raises(ValueError, match="holds a vae flow; expected a maf flow"):
        load_flow_model(path, expected_builder="maf")
    for got, want in zip(
        _as_list(outputs(loaded)), _as_list(outputs(model)), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def _public_keras_layer_classes():
    found = {}
    for sub in tfp_flows.__all__:
        module = getattr(tfp_flows, sub, None)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
                found[obj.__name__] = obj
    return found


def test_every_public_keras_layer_has_a_case():
    classes = _public_keras_layer_classes()
    assert {"RowLSTM", "FlowModel", "VAE"} <= set(classes)  # the walk works
    covered = {type(factory()).__name__ for factory, _, _ in CASES.values()}
    missing = sorted(set(classes) - covered)
    assert not missing, f"public Keras layers without a config case: {missing}"
