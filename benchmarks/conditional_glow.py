"""The price of conditioning: conditional against unconditional Glow, same width.

Three models of the same architecture (16x16x1 images by default, 2 levels x
4 steps, coupling width W, float32, batch 64 of uniform [-0.5, 0.5) data):

* `uncond`: `flows.glow(...)`, the reference (its best configuration here:
  the XLA path of our own Glow, whose `log_prob` and training step are the
  fastest of the package on CPU);
* `class`: `flows.glow(..., context_size=10)`, one-hot contexts: every
  coupling network gets 10 more input channels, the split priors too, and
  the top prior a zero-initialized linear map (Glow's `ycond`);
* `image`: `flows.glow(..., context_shape=(H/2, W/2, 1))`, a low-resolution
  image context (super-resolution), pooled or repeated to each level.

Measured in one process with the calls of the three models rotating
(`_common.time_group`), so load hits all of them alike: XLA `log_prob`
(`tf.function(jit_compile=True)`, unknown batch) and one XLA training step
(gradient of -mean(log_prob) + SGD). Ratio = reference time / conditional
time per round (< 1: conditioning costs), median and spread over the rounds;
the verdict says "slower" only when every round agrees. Parameter counts are
printed. Every timed call gets a fresh `tf.identity(x)` (TFP caches bijector
results by tensor).

    python benchmarks/conditional_glow.py [--width 64] [--quick]
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def _models(size, width, steps, levels):
    from tfp_flows import flows

    common = dict(num_levels=levels, num_steps=steps, hidden_units=width, seed=0)
    return {
        "uncond": flows.glow((size, size, 1), **common),
        "class": flows.glow((size, size, 1), context_size=10, **common),
        "image": flows.glow(
            (size, size, 1), context_shape=(size // 2, size // 2, 1), **common
        ),
    }


def main(argv=None):
    """Runs the benchmark and prints the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--size", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="tiny sizes, few repeats")
    args = p.parse_args(argv)
    import numpy as np
    import tensorflow as tf

    size, width, steps, levels, batch, repeats = args.size, args.width, 4, 2, 64, 7
    if args.quick:
        size, width, steps, batch, repeats = 8, 16, 1, 16, 3
    models = _models(size, width, steps, levels)
    rng = np.random.RandomState(0)
    x = tf.constant(rng.uniform(-0.5, 0.5, (batch, size, size, 1)), tf.float32)
    ctxs = {
        "uncond": None,
        "class": tf.one_hot(rng.randint(0, 10, batch), 10),
        "image": tf.nn.avg_pool2d(x, 2, 2, "VALID"),
    }
    for name, m in models.items():  # data-dependent ActNorm init, as in training
        from tfp_flows.flows import initialize_act_norms

        initialize_act_norms(m, x, context=ctxs[name])

    def log_prob_fn(name):
        m, ctx = models[name], ctxs[name]
        image_spec = tf.TensorSpec([None, size, size, 1], tf.float32)
        if ctx is None:

            @tf.function(input_signature=[image_spec], jit_compile=True)
            def plain(v):
                return m.log_prob(v)

            return lambda: plain(tf.identity(x))
        ctx_spec = tf.TensorSpec([None, *ctx.shape[1:]], tf.float32)

        @tf.function(input_signature=[image_spec, ctx_spec], jit_compile=True)
        def conditional(v, c):
            return m.log_prob(v, context=c)

        return lambda: conditional(tf.identity(x), tf.identity(ctx))

    def train_fn(name):
        m, ctx = models[name], ctxs[name]
        variables = m.trainable_variables

        @tf.function(jit_compile=True)
        def step(v, c):
            with tf.GradientTape() as tape:
                lp = m.log_prob(v) if c is None else m.log_prob(v, context=c)
                loss = -tf.reduce_mean(lp)
            grads = tape.gradient(loss, variables)
            for var, g in zip(variables, grads, strict=True):
                var.assign_sub(1e-5 * g)  # plain SGD
            return loss

        if ctx is None:
            return lambda: step(tf.identity(x), None)
        return lambda: step(tf.identity(x), tf.identity(ctx))

    names = ["uncond", "class", "image"]
    print(_common.machine_line(f"load average {os.getloadavg()[0]:.2f}"))
    print(
        f"Glow {size}x{size}x1, {levels} levels x {steps} steps, width {width}, "
        f"batch {batch}; ratio = unconditional time / conditional time (median "
        f"[lowest, highest] over {repeats}+ rounds)"
    )
    params = {n: _common.param_count(models[n].trainable_variables) for n in names}
    print("trainable parameters: " + ", ".join(f"{n} {params[n]:,}" for n in names))
    rows = []
    for what, make in (("XLA log_prob", log_prob_fn), ("XLA train step", train_fn)):
        times = _common.time_group(
            [make(n) for n in names], repeats=repeats, warmup=2, min_time=1.0
        )
        med = {n: float(np.median(t)) for n, t in zip(names, times, strict=True)}
        for n, t in zip(names[1:], times[1:], strict=True):
            r, lo, hi = _common.ratio_spread(times[0], t)
            rows.append(
                (
                    what,
                    n,
                    batch / med["uncond"],
                    batch / med[n],
                    r,
                    lo,
                    hi,
                    _common.verdict(r, lo, hi),
                )
            )
    head = (
        f"| {'measure':<15} | {'model':<6} | {'uncond img/s':>12} | "
        f"{'cond img/s':>10} | {'ratio [spread]':>20} | verdict |"
    )
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for what, n, ru, rc, r, lo, hi, v in rows:
        spread = f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
        print(
            f"| {what:<15} | {n:<6} | {ru:>12.0f} | {rc:>10.0f} | {spread:>20} | {v} |"
        )


if __name__ == "__main__":
    main()
