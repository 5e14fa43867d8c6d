"""Keras 3 layers, a model and a callback that put a flow into a Keras workflow.

A flow's weights live in Keras 3 layers held by its bijectors. The layers here
track those layers, so a Keras model reports exactly the flow's parameters in
`trainable_weights` (and `summary()`), `model.fit` trains them, and `.keras`
files, `tf.train.Checkpoint` and SavedModel exports carry them.
"""

import json

import tensorflow as tf

from tfp_flows.internal import checks, specs
from tfp_flows.internal.keras import as_tf_variable, keras, keras_layers_of

__all__ = [
    "negative_log_likelihood",
    "ActNormInitializer",
    "FlowLogProb",
    "FlowModel",
    "FlowSample",
    "export_saved_model",
    "load_flow_model",
]


def _is_conditional(flow):
    # A PixelRNNDistribution always has `condition`/`context_size`: it is a
    # conditional family only with a context size and no bound context.
    return (
        hasattr(flow, "condition")
        and getattr(flow, "context_size", None) is not None
        and getattr(flow, "context", None) is None
    )


def _flow_dtype(flow):
    dtype = getattr(flow, "dtype", None)
    return dtype if dtype is not None else flow.distribution.dtype


def _check_flow(flow, owner):
    """TypeError unless `flow` is a distribution or a conditional family."""
    from tensorflow_probability import distributions as tfd  # lazy

    family = hasattr(flow, "condition") and hasattr(flow, "log_prob")
    if not (isinstance(flow, tfd.Distribution) or family):
        raise TypeError(
            f"{owner}: argument `flow` must be a tfp distribution (e.g. made by "
            "`tfp_flows.flows.glow`, `maf`, ...) or a conditional flow; got "
            f"{type(flow).__name__}."
        )
    return flow


def _check_x_dtype(flow, x, owner):
    """The error `flow.log_prob` gives for integer data, for Keras inputs too."""
    checks.check_no_integer_values(x, "x", owner, _flow_dtype(flow))



def _split_inputs(flow, inputs, owner):
    """(x, context) from `x`, `(x, context)` or `{'x':..., 'context':...}`."""
    if isinstance(inputs, dict):
        x, context = inputs.get("x"), inputs.get("context")
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != 2:
            raise ValueError(
                f"{owner}: inputs must be `x` or `(x, context)`; got a sequence of "
                f"{len(inputs)} tensors."
            )
        x, context = inputs
    else:
        x, context = inputs, None
    if _is_conditional(flow) and context is None:
        raise ValueError(
            f"{owner}: this flow is conditional (context_size={flow.context_size}); "
            "pass inputs as (x, context)."
        )
    if not _is_conditional(flow) and context is not None:
        raise ValueError(f"{owner}: this flow is unconditional; pass only `x`, no context.")
    return x, context


def _initialize_act_norms(flow, data):
    from tfp_flows.flows.glow import initialize_act_norms  # avoid an import cycle

    return initialize_act_norms(flow, data)


@keras.saving.register_keras_serializable(package="tfp_flows")
def negative_log_likelihood(y_true, y_pred):
    """Keras loss for a model whose output is a log-likelihood: `-y_pred`.

    `y_true` is ignored (pass zeros), so a functional model ending in
    `FlowLogProb` trains with `model.compile(loss=negative_log_likelihood)`.
    """
    del y_true
    return -y_pred


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowLogProb(keras.layers.Layer):
    """Outputs the log-likelihood `flow.log_prob(x)` (or `log p(x | context)`).

    Inputs: `x`, or `(x, context)` for a conditional flow (`maf`/`iaf` with
    `context_size`), where the context may come from upstream layers. Float
    inputs are cast to the flow's dtype; integer inputs to a density over
    real values raise the `ValueError` that `flow.log_prob` raises (dequantize
    them first), in `model(x)`, `predict`, `fit` and `evaluate` alike.

    #### Examples

    >>> from tfp_flows import flows
    >>> flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> layer = FlowLogProb(flow)
    >>> len(layer.trainable_weights) == len(flow.trainable_variables)
    True
    """

    def __init__(self, flow=None, *, flow_spec=None, **kwargs):
        super().__init__(**kwargs)
        if flow is None:
            if flow_spec is None:
                raise ValueError("FlowLogProb: pass `flow` (or `flow_spec` from a config).")
            flow = specs.build_from_spec(flow_spec)
        self._flow = _check_flow(flow, "FlowLogProb")
        self.flow_layers = keras_layers_of(flow)
        self.built = True

    @property
    def flow(self):
        """The wrapped flow (a `tfd.TransformedDistribution` or conditional flow)."""
        return self._flow

    def call(self, inputs):
        x, context = _split_inputs(self._flow, inputs, "FlowLogProb")
        if x is None:
            raise ValueError(
                "FlowLogProb: inputs must be `x`, `(x, context)` or "
                "{'x': ..., 'context': ...}; got no `x`."
            )
        # Integer data into a density over real values is an error (as in
        # `flow.log_prob`), never a silent cast; floats are cast (Keras feeds
        # numpy float64 arrays as float64).
        _check_x_dtype(self._flow, x, "FlowLogProb")
        x = tf.cast(x, _flow_dtype(self._flow))
        if context is None:
            return self._flow.log_prob(x)
        # Integer-valued flows (PixelRNN) take a float context.
        ctx_dtype = x.dtype if x.dtype.is_floating else tf.float32
        return self._flow.log_prob(x, context=tf.cast(context, ctx_dtype))

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(
            input_shape[0], (list, tuple)
        ):
            input_shape = input_shape[0]
        return tuple(input_shape[: len(input_shape) - len(self._flow.event_shape)])

    def get_config(self):
        config = super().get_config()
        config["flow_spec"] = specs.spec_of(self._flow)
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowSample(keras.layers.Layer):
    """Outputs one flow sample per input row, for downstream layers.

    The input's leading dimension is the batch size; for a conditional flow the
    input is the context `[batch, context_size]` (e.g. from an embedding of a
    class label), otherwise any tensor whose first dimension is the batch.
    Samples use stateless seeds drawn from a Keras `SeedGenerator`, so a fixed
    `seed` gives reproducible samples.
    """

    def __init__(self, flow=None, *, seed=None, temperature=1.0, flow_spec=None, **kwargs):
        super().__init__(**kwargs)
        if flow is None:
            if flow_spec is None:
                raise ValueError(
                    "FlowSample: pass `flow` (or `flow_spec` from a config)."
                )
            flow = specs.build_from_spec(flow_spec)
        self._flow = _check_flow(flow, "FlowSample")
        self.flow_layers = keras_layers_of(flow)
        self.seed = checks.check_seed(seed, "FlowSample", allow_none=True)
        self.temperature = checks.check_number(
            temperature, "temperature", "FlowSample", minimum=0.0, strict=False
        )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def flow(self):
        return self._flow

    def call(self, inputs):
        n = tf.shape(inputs)[0]
        seed = tf.cast(self.seed_generator.next(), tf.int32)
        base = getattr(self._flow, "distribution", None)
        dtype = _flow_dtype(self._flow)
        if _is_conditional(self._flow):
            context = tf.cast(inputs, dtype if dtype.is_floating else tf.float32)
            dist = self._flow.condition(context)
            if not hasattr(dist, "bijector"):  # conditional PixelRNN: sample directly
                if self.temperature != 1.0:
                    raise ValueError(
                        "FlowSample: `temperature` must be 1.0 for "
                        f"{type(dist).__name__}, which has no latent base "
                        f"distribution; got {self.temperature}."
                    )
                return dist.sample(seed=seed)
            eps = dist.distribution.sample(n, seed=seed) * self.temperature
            return dist.bijector.forward(eps)
        if not hasattr(self._flow, "bijector"):  # e.g. PixelRNN: no latent to scale
            if self.temperature != 1.0:
                raise ValueError(
                    f"FlowSample: `temperature` must be 1.0 for {type(self._flow).__name__}, "
                    f"which has no latent base distribution; got {self.temperature}."
                )
            return self._flow.sample(n, seed=seed)
        eps = base.sample(n, seed=seed) * tf.cast(self.temperature, dtype)
        return self._flow.bijector.forward(eps)

    def get_config(self):
        config = super().get_config()
        config.update(
            flow_spec=specs.spec_of(self._flow), seed=self.seed, temperature=self.temperature
        )
        return config


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowModel(keras.Model):
    """A Keras model whose output is `log_prob(x)` and whose loss is the mean
    negative log-likelihood, so `model.fit(x)` needs no targets.

    For a conditional flow, feed `(x, context)` pairs. `evaluate` reports the
    mean NLL; `predict` returns per-example log-likelihoods. Saving with
    `model.save("m.keras")` stores the builder's arguments (no code), and
    `keras.saving.load_model(..., safe_mode=True)` rebuilds the same flow.

    ActNorm initialization is an explicit step: `model.initialize_act_norms(x)`
    before `fit`, or the `ActNormInitializer` callback.

    #### Examples

    >>> import numpy as np
    >>> from tfp_flows import flows
    >>> flow = flows.glow((8, 8, 1), num_levels=1, num_steps=1, hidden_units=8)
    >>> model = FlowModel(flow)
    >>> x = np.random.RandomState(0).uniform(-0.5, 0.5, (32, 8, 8, 1)).astype("float32")
    >>> _ = model.initialize_act_norms(x)
    >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
    >>> history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    >>> len(history.history["loss"])
    2
    """

    def __init__(self, flow=None, *, flow_spec=None, **kwargs):
        super().__init__(**kwargs)
        self.log_prob_layer = FlowLogProb(flow, flow_spec=flow_spec, name="log_prob")
        self.built = True  # every weight exists already (made by the builder)

    @property
    def flow(self):
        return self.log_prob_layer.flow

    @property
    def builder_name(self):
        """The builder that made the flow ('glow', 'maf', ...), or None."""
        return specs.builder_name(self.flow)

    def call(self, inputs):
        return self.log_prob_layer(inputs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        nll = -tf.reduce_mean(y_pred)
        if self.losses:
            nll += tf.add_n(self.losses)
        # Keras' convention under tf.distribute: each replica returns its loss
        # divided by the replica count (gradients are summed across replicas).
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if num_replicas > 1:
            nll = nll * tf.cast(1.0 / num_replicas, nll.dtype)
        return nll

    def initialize_act_norms(self, data):
        """Data-dependent init of every ActNorm from one batch (global batch
        under a distribution strategy: statistics are over all of `data`)."""
        x, context = _split_inputs(self.flow, data, "FlowModel.initialize_act_norms")
        flow = self.flow.condition(context) if context is not None else self.flow
        return _initialize_act_norms(flow, tf.convert_to_tensor(x))

    def sample(self, n, *, seed=None, context=None):
        """`n` samples (per context row for a conditional flow)."""
        n = checks.check_sample_shape(n, "FlowModel.sample", arg_name="n")
        if context is not None:
            if not _is_conditional(self.flow):
                raise ValueError(
                    "FlowModel.sample: argument `context` was given, but this flow "
                    "is unconditional."
                )
            return self.flow.sample(n, context=context, seed=seed)
        return self.flow.sample(n, seed=seed)

    def flow_variables_match(self):
        """True if Keras' weights and the distribution's variables are the same."""
        keras_ids = sorted(id(as_tf_variable(w)) for w in self.trainable_weights)
        tfp_ids = sorted(id(v) for v in self.flow.trainable_variables)
        return keras_ids == tfp_ids

    def get_config(self):
        return {"name": self.name, "flow_spec": specs.spec_of(self.flow)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)

    def build(self, input_shape=None):
        self.built = True

    # Weights files remember which flow wrote them.
    def save_weights(self, filepath, overwrite=True, **kwargs):
        super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if str(filepath).endswith(".h5"):
            import h5py

            with h5py.File(filepath, "a") as f:
                f.attrs["tfp_flows_spec"] = specs.spec_of(self.flow)

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        if str(filepath).endswith(".h5"):
            self._check_weights_file(filepath)
        return super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)

    def _check_weights_file(self, filepath):
        import h5py

        try:
            with h5py.File(filepath, "r") as f:
                saved = f.attrs.get("tfp_flows_spec")
        except OSError as e:
            raise ValueError(
                f"FlowModel.load_weights: argument `filepath` {str(filepath)!r} is not "
                f"a readable weights file ({e})."
            ) from None
        if saved is None:
            return
        saved = json.loads(saved)
        mine = json.loads(specs.spec_of(self.flow))
        if saved != mine:
            raise ValueError(
                f"FlowModel.load_weights: {str(filepath)!r} holds weights of a "
                f"{saved['builder']} flow with arguments {saved['arguments']}, but this "
                f"model is a {mine['builder']} flow with arguments {mine['arguments']}."
            )


class ActNormInitializer(keras.callbacks.Callback):
    """Initializes every ActNorm of a `FlowModel` from data when training begins.

    Args:
      data: a batch (array/tensor, or `(x, context)`), or a `tf.data.Dataset`
        whose first element is used. Skipped if the ActNorms are already
        initialized (e.g. restored from a checkpoint), so resuming never
        re-initializes.
    """

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_train_begin(self, logs=None):
        from tfp_flows.bijectors.act_norm import ActNorm

        acts = [m for m in self.model.flow.submodules if isinstance(m, ActNorm)]
        if acts and all(bool(a.is_initialized) for a in acts):
            return
        data = self.data
        if isinstance(data, tf.data.Dataset):
            data = next(iter(data))
        self.model.initialize_act_norms(data)


def load_flow_model(filepath, *, expected_builder=None):
    """Loads a `.keras` file saved from a `FlowModel` (with `safe_mode=True`).

    Args:
      filepath: path of the `.keras` file.
      expected_builder: if given (e.g. `'glow'`), the saved flow must be of it.

    Raises:
      ValueError: for a missing, corrupt or non-flow file, or another flow type.
    """
    import os
    import zipfile

    path = str(filepath)
    if not os.path.exists(path):
        raise ValueError(f"load_flow_model: argument `filepath` {path!r} does not exist.")
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"load_flow_model: argument `filepath` {path!r} is not a .keras archive "
            "(corrupt or another format)."
        )
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # Keras raises many types for a damaged archive.
        raise ValueError(
            f"load_flow_model: could not load {path!r}: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(model, FlowModel):
        raise ValueError(
            f"load_flow_model: {path!r} holds a {type(model).__name__}, not a FlowModel."
        )
    if expected_builder is not None and model.builder_name != expected_builder:
        raise ValueError(
            f"load_flow_model: {path!r} holds a {model.builder_name} flow; expected "
            f"a {expected_builder} flow."
        )
    return model


def _checked_served_input(t, event, arg_name):
    """`t`, after checking that its shape is `[batch, *event]` (rank and sizes).

    Served signatures do not enforce their TensorSpec's shape, and graph
    optimizations fold `tf.rank(t)` and the static dims of `tf.shape(t)` to
    the spec's values: a check written with them passes vacuously (a rank-1
    `[D]` input for a `[batch, D]` signature reached a MatMul). So:

    1. `t` first goes through a `tf.cond` that is never taken at run time but
       has a rank-1 branch; its output has an unknown static shape, so its
       `tf.shape` is the true run-time shape.
    2. Rank and sizes are compared in a second `tf.cond`, whose failing
       branch returns zeros of a valid shape behind the failing assertion: no
       op downstream ever runs on the bad input (and reports its own error
       before this one).
    3. `tf.ensure_shape` gives the result back its static shape.
    """
    rank = len(event) + 1
    want = "[batch, " + ", ".join(str(d) for d in event) + "]"
    opaque = tf.cond(
        tf.equal(tf.size(t), -1),  # never: hides the static shape of `t`
        lambda: tf.reshape(t, [-1]),
        lambda: tf.identity(t),
    )
    shape = tf.shape(opaque)
    # Padded so that the slice exists for any rank; -1 never matches a size.
    padded = tf.concat([shape, -tf.ones([rank], tf.int32)], 0)
    ok = tf.logical_and(
        tf.equal(tf.size(shape), rank),
        tf.reduce_all(tf.equal(padded[1:rank], tf.constant(event, tf.int32))),
    )

    def fail():
        message = (
            f"served signature: argument `{arg_name}` must have shape {want} "
            f"(rank {rank}); got shape"
        )
        assertion = tf.debugging.Assert(False, [message, shape], summarize=rank)
        with tf.control_dependencies([assertion]):
            # Zeros with the input's batch size (1 for a scalar), so that a
            # context and `x` still broadcast while the assertion fails.
            batch = tf.concat([shape, [1]], 0)[:1]
            return tf.zeros(tf.concat([batch, event], 0), t.dtype)

    checked = tf.cond(ok, lambda: tf.identity(opaque), fail)
    return tf.ensure_shape(checked, [None] + list(event))


class _Served(tf.Module):
    def __init__(self, flow, event_shape, dtype):
        super().__init__(name="tfp_flows_export")
        self._flow_variables = list(flow.variables)
        self._flow = flow
        event = list(event_shape)
        if _is_conditional(flow):
            self._conditional(flow, event, dtype)
            return

        @tf.function(input_signature=[tf.TensorSpec([None] + event, dtype, name="x")])
        def log_prob(x):
            x = _checked_served_input(x, event, "x")
            return {"log_prob": flow.log_prob(x)}

        @tf.function(
            input_signature=[
                tf.TensorSpec([], tf.int32, name="n"),
                tf.TensorSpec([2], tf.int32, name="seed"),
            ]
        )
        def sample(n, seed):
            n = checks.check_sample_shape(n, "served signature", arg_name="n")
            return {"samples": flow.sample(n, seed=seed)}

        self.log_prob = log_prob
        self.sample = sample

    def _conditional(self, flow, event, dtype):
        # A flow's context has its dtype; a PixelRNN's (int images) the
        # network's float dtype.
        network = getattr(flow, "network", None)
        ctx_dtype = dtype if network is None else tf.as_dtype(network.compute_dtype)
        ctx = tf.TensorSpec([None, flow.context_size], ctx_dtype, name="context")

        @tf.function(input_signature=[tf.TensorSpec([None] + event, dtype, name="x"), ctx])
        def log_prob(x, context):
            x = _checked_served_input(x, event, "x")
            context = _checked_served_input(context, [flow.context_size], "context")
            return {"log_prob": flow.log_prob(x, context=context)}

        @tf.function(input_signature=[ctx, tf.TensorSpec([2], tf.int32, name="seed")])
        def sample(context, seed):
            # One sample per context row.
            context = _checked_served_input(context, [flow.context_size], "context")
            dist = flow.condition(context)
            if hasattr(dist, "bijector"):  # a flow: its base has no batch
                eps = dist.distribution.sample(tf.shape(context)[0], seed=seed)
                return {"samples": dist.bijector.forward(eps)}
            # Batch shape [rows] (e.g. a conditional PixelRNN): one draw.
            return {"samples": dist.sample(seed=seed)}

        self.log_prob = log_prob
        self.sample = sample


def export_saved_model(flow, path):
    """Exports a flow as a SavedModel with `log_prob(x)` and `sample(n, seed)`.

    The export has a dynamic batch dimension, carries the weights (ActNorm's
    initialized state included) and loads with plain `tf.saved_model.load` in
    a process that never imports `tfp_flows`. For a conditional flow the
    signatures are `log_prob(x, context)` and `sample(context, seed)` (one
    sample per context row).

    The served `log_prob` checks the rank and sizes of `x` (and `context`)
    against `[batch, *event_shape]` (`InvalidArgumentError` naming the
    argument and the shape received), and `sample` a negative `n`.

    Args:
      flow: a `tfd.TransformedDistribution` (or a `FlowModel`).
      path: output directory.

    Returns:
      `path`.

    Raises:
      TypeError: `flow` is not a distribution or a conditional flow.
    """
    if isinstance(flow, FlowModel):
        flow = flow.flow
    _check_flow(flow, "export_saved_model")
    module = _Served(flow, flow.event_shape, _flow_dtype(flow))
    # Save only the module's own variables and functions: the Keras layers that
    # own the weights are not serialized, so loading needs no tfp_flows code.
    module._flow = None
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "log_prob": module.log_prob.get_concrete_function(),
            "sample": module.sample.get_concrete_function(),
        },
    )
    return path
