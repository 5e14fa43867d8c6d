"""`FlowModel`: a Keras model whose output is a flow's log-likelihood.

`model.fit(x)` minimizes the mean negative log-likelihood (no targets);
`model.save("m.keras")` stores the builder's arguments, not code, so
`keras.saving.load_model(..., safe_mode=True)` (or
`tfp_flows.saving.load_flow_model`) rebuilds the same flow.
"""

from __future__ import annotations

import json
import os
from typing import Any

import tensorflow as tf

from tfp_flows.flows.act_norm_init import initialize_act_norms
from tfp_flows.flows.act_norm_init import replica_sum
from tfp_flows.internal import checks
from tfp_flows.internal import specs
from tfp_flows.internal.flow_inputs import is_conditional
from tfp_flows.internal.flow_inputs import split_inputs
from tfp_flows.internal.keras import as_tf_variable
from tfp_flows.internal.keras import keras
from tfp_flows.internal.types import Flow
from tfp_flows.internal.types import FlowInputs
from tfp_flows.internal.types import Seed
from tfp_flows.internal.types import ShapeLike
from tfp_flows.internal.types import TensorLike
from tfp_flows.layers.flow_layers import FlowLogProb

__all__ = ["FlowModel"]


@keras.saving.register_keras_serializable(package="tfp_flows")
class FlowModel(keras.Model):
    """A Keras model whose output is `log_prob(x)`, trained on the mean NLL.

    The loss is the mean negative log-likelihood, so `model.fit(x)` needs no
    targets. For a conditional flow (any family of the conditioning protocol,
    e.g. `flows.glow(..., context_size=10)`), feed `(x, context)` pairs:
    `model.fit((x, onehot))` or a `tf.data.Dataset` of `(x, context)`.
    `evaluate` reports the mean NLL; `predict` returns per-example
    log-likelihoods. Saving with `model.save("m.keras")` stores the builder's
    arguments (no code), and
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

    def __init__(
        self,
        flow: Flow | None = None,
        *,
        flow_spec: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.log_prob_layer = FlowLogProb(flow, flow_spec=flow_spec, name="log_prob")
        self.built = True  # every weight exists already (made by the builder)

    @property
    def flow(self) -> Flow:
        """The wrapped flow (a distribution or a conditional family)."""
        return self.log_prob_layer.flow

    @property
    def builder_name(self) -> str | None:
        """The builder that made the flow ('glow', 'maf', ...), or None."""
        return specs.builder_name(self.flow)

    def call(self, inputs: FlowInputs, training: bool | None = None) -> tf.Tensor:
        """Per-row `log p(x)` (or `log p(x | context)` for `(x, context)`).

        `training` reaches every Keras layer of the flow (Keras passes
        `training=True` in `fit` only to a model whose `call` takes it): FFJORD
        uses its Hutchinson trace estimator in training, the exact trace
        otherwise.
        """
        return self.log_prob_layer(inputs, training=training)

    def compute_loss(
        self,
        x: FlowInputs | None = None,
        y: TensorLike | None = None,
        y_pred: tf.Tensor | None = None,
        sample_weight: TensorLike | None = None,
        training: bool = True,
    ) -> tf.Tensor:
        """The mean negative log-likelihood (plus any layer losses)."""
        nll = -tf.reduce_mean(y_pred)
        if self.losses:
            nll += tf.add_n(self.losses)
        # Keras' convention under tf.distribute: each replica returns its loss
        # divided by the replica count (gradients are summed across replicas).
        num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if num_replicas > 1:
            nll = nll * tf.cast(1.0 / num_replicas, nll.dtype)
        return nll

    # A `tf.data.Dataset` of `(x, context)` pairs reaches the steps as Keras'
    # `(x, y)`; for a conditional flow the pair is the model's input (a flow
    # has no targets), so it is packed back into one input here.
    def _pack_context(self, data: Any) -> Any:
        if (
            is_conditional(self.flow)
            and isinstance(data, tuple)
            and len(data) == 2
            and not isinstance(data[0], (tuple, list, dict))
        ):
            return ((data[0], data[1]),)
        return data

    def make_train_function(self, force: bool = False) -> Any:
        """Keras' train function, with the optimizer built before its trace.

        Without a `tf.distribute` strategy, Keras builds the optimizer (its
        slot variables) inside the first trace of the train function, and a
        `tf.function` that creates variables on its first call is traced a
        second time: at Glow's CIFAR size that second trace was half of the
        time to the first step (measured: 19.4 s -> 10.3 s, 3 x 32 x 512,
        batch 2, stacked steps). The optimizer is built here instead, on the
        variables Keras itself would build it on.
        """
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            with self.distribute_strategy.scope():
                optimizer.build(self.trainable_variables)
        return super().make_train_function(force=force)

    def train_step(self, data: Any) -> Any:
        """Keras' step; `(x, context)` batches of a dataset are the input."""
        return super().train_step(self._pack_context(data))

    def test_step(self, data: Any) -> Any:
        """Keras' step; `(x, context)` batches of a dataset are the input."""
        return super().test_step(self._pack_context(data))

    def predict_step(self, data: Any) -> Any:
        """Keras' step; `(x, context)` batches of a dataset are the input."""
        return super().predict_step(self._pack_context(data))

    def initialize_act_norms(self, data: FlowInputs | tf.data.Dataset) -> tf.Tensor:
        """Data-dependent init of every ActNorm from one global batch.

        Args:
          data: a batch (`x`, or `(x, context)` for a conditional flow): the
            statistics are those of all of it, also under a strategy, where
            every replica computes them from the whole batch. Or a
            `tf.data.Dataset` of global batches: its first batch is
            initialized from. Under a `tf.distribute` strategy the dataset is
            distributed, each replica (and worker) initializes from its own
            shard, and an all-reduce gives every one of them the statistics
            of the whole global batch (`flows.replica_sum`).

        Returns:
          The latent of the batch (for a dataset under a strategy: the
          replicas' latents, concatenated).
        """
        owner = "FlowModel.initialize_act_norms"
        if isinstance(data, tf.data.Dataset):
            strategy = tf.distribute.get_strategy()
            if strategy.num_replicas_in_sync == 1:
                data = next(iter(data))
            else:
                return self._initialize_act_norms_per_replica(strategy, data, owner)
        x, context = split_inputs(self.flow, data, owner)
        flow = self.flow.condition(context) if context is not None else self.flow
        return initialize_act_norms(flow, tf.convert_to_tensor(x))

    def _initialize_act_norms_per_replica(self, strategy, dataset, owner):
        """Each replica initializes from its shard with global statistics."""
        batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

        def replica_fn(shard):
            x, context = split_inputs(self.flow, shard, owner)
            flow = self.flow.condition(context) if context is not None else self.flow
            return initialize_act_norms(flow, x, reduce_fn=replica_sum)

        @tf.function
        def run(b):
            return strategy.run(replica_fn, args=(b,))

        return strategy.gather(run(batch), axis=0)

    def sample(
        self, n: ShapeLike, *, seed: Seed = None, context: TensorLike | None = None
    ) -> tf.Tensor:
        """`n` samples (per context row for a conditional flow)."""
        n = checks.check_sample_shape(n, "FlowModel.sample", arg_name="n")
        if context is not None:
            if not is_conditional(self.flow):
                raise ValueError(
                    "FlowModel.sample: argument `context` was given, but this flow "
                    "is unconditional."
                )
            return self.flow.sample(n, context=context, seed=seed)
        return self.flow.sample(n, seed=seed)

    def flow_variables_match(self) -> bool:
        """True if Keras' weights and the distribution's variables are the same."""
        keras_ids = sorted(id(as_tf_variable(w)) for w in self.trainable_weights)
        tfp_ids = sorted(id(v) for v in self.flow.trainable_variables)
        return keras_ids == tfp_ids

    def get_config(self) -> dict[str, Any]:
        """Keras config: the flow's builder spec (no code)."""
        return {"name": self.name, "flow_spec": specs.spec_of(self.flow)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FlowModel:
        """Rebuilds the model (and its flow) from `get_config()`."""
        config = dict(config)
        config.pop("trainable", None)
        config.pop("dtype", None)
        return cls(**config)

    def build(self, input_shape: Any = None) -> None:
        """Nothing to build: the builder made every weight."""
        self.built = True

    # Weights files remember which flow wrote them.
    def save_weights(
        self, filepath: str | os.PathLike[str], overwrite: bool = True, **kwargs: Any
    ) -> None:
        """Keras' `save_weights`; `.h5` files also record the flow's spec."""
        super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if str(filepath).endswith(".h5"):
            import h5py

            with h5py.File(filepath, "a") as f:
                f.attrs["tfp_flows_spec"] = specs.spec_of(self.flow)

    def load_weights(
        self,
        filepath: str | os.PathLike[str],
        skip_mismatch: bool = False,
        **kwargs: Any,
    ) -> None:
        """Keras' `load_weights`; `.h5` files must hold weights of this flow."""
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
                f"{saved['builder']} flow with arguments {saved['arguments']}, but "
                f"this model is a {mine['builder']} flow with arguments "
                f"{mine['arguments']}."
            )
