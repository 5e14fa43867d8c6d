"""Train a tfp_flows Glow with `tf.distribute.MultiWorkerMirroredStrategy`.

The same script runs on every worker of a cluster; each reads its role from
the `TF_CONFIG` environment variable. To try it on one machine with two local
workers (localhost ports, nothing leaves the machine):

    python examples/multi_worker_train.py --launch-local 2

On a real cluster, start the script once per machine with `TF_CONFIG` set, e.g.
on worker 0:

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}' \
        python examples/multi_worker_train.py --epochs 20

(and `"index": 1` on host1). Worker 0 is the chief: it writes the weights.
"""

import argparse
import json
import os
import socket
import subprocess
import sys


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch_local(num_workers, argv):
    """Starts `num_workers` local workers on free localhost ports and waits."""
    ports = [_free_port() for _ in range(num_workers)]
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(num_workers):
        env = dict(os.environ)
        env["TF_CONFIG"] = json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}}
        )
        procs.append(subprocess.Popen([sys.executable, __file__] + argv, env=env))
    codes = [p.wait(timeout=900) for p in procs]
    if any(codes):
        raise SystemExit(f"workers exited with {codes}")


def worker_argv(argv):
    """The launcher's arguments without `--launch-local N` (or `=N`).

    Only that option and its own value are dropped: `--launch-local 2
    --epochs 2` gives the workers `--epochs 2`.
    """
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--launch-local":
            skip = True
        elif not arg.startswith("--launch-local="):
            out.append(arg)
    return out


def train(args):
    """Trains on this worker (its role comes from `TF_CONFIG`)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if args.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras
    import numpy as np

    from tfp_flows import data
    from tfp_flows import flows
    from tfp_flows import layers

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {"index": 0})
    keras.utils.set_random_seed(args.seed)
    images = data.load_digits("train")[: args.num_images]
    x = data.dequantize(images, seed=[args.seed, 0])
    with strategy.scope():
        flow = flows.glow(
            (8, 8, 1),
            num_levels=2,
            num_steps=args.num_steps,
            hidden_units=args.hidden_units,
            seed=args.seed,
        )
        model = layers.FlowModel(flow)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    # A dataset of global batches, sharded by element across the workers.
    # (Keras 3.15's `model.fit` fails under MultiWorkerMirroredStrategy when
    # reducing its scalar logs, so this example uses a `strategy.run` loop;
    # `fit` works under MirroredStrategy.)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    ds = (
        tf.data.Dataset.from_tensor_slices(x)
        .batch(args.global_batch_size, drop_remainder=True)
        .with_options(options)
    )
    # ActNorm init from the first global batch: each worker initializes from
    # its own shard, and an all-reduce gives every worker the statistics of
    # the whole global batch (the same as one device initializing on it).
    model.initialize_act_norms(ds)
    dist_ds = strategy.experimental_distribute_dataset(ds)
    optimizer = model.optimizer
    variables = model.trainable_variables

    @tf.function
    def train_step(batch):
        def replica_step(b):
            with tf.GradientTape() as tape:
                # Mean over the global batch: each replica's mean / replicas.
                loss = -tf.reduce_mean(flow.log_prob(b)) / strategy.num_replicas_in_sync
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            return loss

        per_replica = strategy.run(replica_step, args=(batch,))
        return strategy.reduce("SUM", per_replica, axis=None)

    losses = []
    for epoch in range(args.epochs):
        total, steps = 0.0, 0
        for batch in dist_ds:
            total += float(train_step(batch))
            steps += 1
        losses.append(total / max(steps, 1))
        if task.get("index", 0) == 0:
            print(f"epoch {epoch + 1}: loss {losses[-1]:.3f}", flush=True)
    hist = type("History", (), {"history": {"loss": losses}})()
    if task.get("index", 0) == 0:
        os.makedirs(args.output_dir, exist_ok=True)
        model.save_weights(os.path.join(args.output_dir, "glow.weights.h5"))
        np.save(
            os.path.join(args.output_dir, "final_weights.npy"),
            np.concatenate([np.ravel(w.numpy()) for w in variables]),
        )
        with open(os.path.join(args.output_dir, "history.json"), "w") as f:
            json.dump(
                {
                    "loss": hist.history["loss"],
                    "num_workers": strategy.num_replicas_in_sync,
                },
                f,
            )
        print(
            f"chief: {strategy.num_replicas_in_sync} replicas, final loss "
            f"{hist.history['loss'][-1]:.3f}; weights in {args.output_dir}",
            flush=True,
        )


def main():
    """Parses the options; launches local workers or trains."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--launch-local",
        type=int,
        default=0,
        help="start this many local workers on localhost and wait",
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--global-batch-size", type=int, default=64)
    p.add_argument("--num-images", type=int, default=512)
    p.add_argument("--num-steps", type=int, default=1)
    p.add_argument("--hidden-units", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-dir", default="multi_worker_out")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="tf.config.experimental.enable_op_determinism() (parity tests)",
    )
    args = p.parse_args()
    if args.launch_local:
        launch_local(args.launch_local, worker_argv(sys.argv[1:]))
    else:
        train(args)


if __name__ == "__main__":
    main()
