"""Shared helpers of the benchmark scripts: machine line, paired timing, verdicts.

Not part of the package. Every script in `benchmarks/` prints `machine_line()`
at the top of its table, times ours and the reference with the same protocol
(`time_pair`: calls alternate, so load from other processes hits both alike),
and words a ratio with `verdict`, which says "faster"/"slower" only when the
ratio stays on one side of 1 across every measured repetition (the run-to-run
spread), and "on par" otherwise.
"""

import datetime
import os
import platform
import time

import numpy as np

__all__ = [
    "cpu_count",
    "cpu_model",
    "gpu_names",
    "machine_line",
    "param_count",
    "ratio_spread",
    "time_pair",
    "time_calls",
    "time_group",
    "verdict",
]


def cpu_count():
    """CPU cores this process may run on (affinity-aware), detected."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (or `platform.processor()`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or platform.machine()


def gpu_names():
    """Names of the GPUs TensorFlow sees (empty list: none). Imports TF."""
    import tensorflow as tf

    names = []
    for dev in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(dev)
        names.append(details.get("device_name", dev.name))
    return names


def machine_line(extra=""):
    """One line naming the date, cores, CPU, GPU (detected) and the stack."""
    import keras
    import tensorflow as tf

    gpus = gpu_names()
    gpu = ", ".join(gpus) if gpus else "no GPU"
    try:
        import tensorflow_probability as tfp

        tfp_version = tfp.__version__
    except ImportError:  # pragma: no cover
        tfp_version = "-"
    line = (
        f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}; machine: {cpu_count()}-core "
        f"CPU ({cpu_model()}), {gpu}; tensorflow {tf.__version__}, "
        f"tensorflow-probability {tfp_version}, keras {keras.__version__}"
    )
    return line + (f"; {extra}" if extra else "")


def param_count(variables):
    """Total number of scalars in a list of variables (or of a module's)."""
    return int(sum(int(np.prod(v.shape)) for v in variables))


def _block(out):
    """Waits for a result (TF tensors, numpy arrays, nests of them)."""
    import tensorflow as tf

    for t in tf.nest.flatten(out):
        np.asarray(t)


def time_calls(fn, *, repeats=5, warmup=1, min_time=0.0):
    """Seconds per call of `fn()` for `repeats` (or more, until `min_time`) calls.

    `warmup` calls (compilation) run first and are not counted.
    """
    for _ in range(warmup):
        _block(fn())
    times, start = [], time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        _block(fn())
        times.append(time.perf_counter() - t0)
        if len(times) >= max(repeats, 100):
            break
    return times


def time_pair(fa, fb, *, repeats=5, warmup=1, min_time=0.0):
    """Per-call seconds of two no-argument callables whose calls alternate.

    Both get the same warm-up (compilation) calls and the same number of timed
    repetitions, so neither is handicapped by load that hits only one of them.
    Returns two lists of equal length.
    """
    for _ in range(warmup):
        _block(fa())
        _block(fb())
    ta, tb, start = [], [], time.perf_counter()
    while len(ta) < repeats or time.perf_counter() - start < 2 * min_time:
        for f, ts in ((fa, ta), (fb, tb)):
            t0 = time.perf_counter()
            _block(f())
            ts.append(time.perf_counter() - t0)
        if len(ta) >= max(repeats, 60):
            break
    return ta, tb


def time_group(fns, *, repeats=5, warmup=1, min_time=0.0):
    """`time_pair` for any number of no-argument callables (calls rotate).

    Returns one list of per-call seconds per callable, all of equal length, the
    i-th entries measured in the same round.
    """
    for _ in range(warmup):
        for f in fns:
            _block(f())
    times, start = [[] for _ in fns], time.perf_counter()
    while len(times[0]) < repeats or time.perf_counter() - start < len(fns) * min_time:
        for f, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            _block(f())
            ts.append(time.perf_counter() - t0)
        if len(times[0]) >= max(repeats, 60):
            break
    return times


def ratio_spread(ref_times, our_times):
    """(median ratio, lowest, highest) of per-repetition ratios ref / ours.

    A ratio > 1 means ours takes less time. The repetitions are paired in order
    (as `time_pair` returns them), so each ratio compares calls made back to
    back.
    """
    r = np.asarray(ref_times, float) / np.asarray(our_times, float)
    return float(np.median(r)), float(r.min()), float(r.max())


def verdict(ratio, low, high):
    """'faster' / 'slower' only when the whole measured spread is on one side.

    `ratio`, `low`, `high` are a speed ratio (>1: ours faster) and the lowest
    and highest ratio seen over the repetitions. Inside the spread it is "on
    par".
    """
    del ratio
    if low > 1.0:
        return "faster"
    if high < 1.0:
        return "slower"
    return "on par"
