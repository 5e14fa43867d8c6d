"""1-D signals made in code, a shipped speech clip, and mu-law companding.

For sequence models (WaveNet) without a network connection:

* `sum_of_sines`, `chirp`: deterministic test tones (plus optional noise).
* `ar_process`: stationary Gaussian AR(p) sequences,
  `x_t = sum_i phi_i x_{t-i} + e_t`, `e_t ~ N(0, sigma^2)`, with their exact
  log-likelihood (`ar_log_likelihood`) and entropy rate
  (`ar_entropy_rate = 0.5 log(2 pi e sigma^2)` nats per step): a known answer
  for a density model's NLL.
* `load_speech_clip`: 3.7 s of synthetic speech at 16 kHz that ships with
  the package (`tfp_flows/data/speech/README.md` says how it was made).
* `mu_law_encode` / `mu_law_decode`: ITU-T G.711 mu-law companding, as the
  WaveNet paper quantizes audio to 256 levels,

      F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu),   -1 <= x <= 1, mu = 255.

#### References

[1] Aaron van den Oord et al. WaveNet: A Generative Model for Raw Audio.
    arXiv 2016, Section 2.2. https://arxiv.org/abs/1609.03499
[2] Peter J. Brockwell, Richard A. Davis. Time Series: Theory and Methods,
    2nd ed., Springer 1991, Sections 3.3 (autocovariances of ARMA
    processes) and 8.7 (the exact Gaussian likelihood of an AR(p)).
"""

from __future__ import annotations

import pathlib
import wave
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "ar_autocovariance",
    "ar_entropy_rate",
    "ar_log_likelihood",
    "ar_process",
    "chirp",
    "load_speech_clip",
    "mu_law_decode",
    "mu_law_encode",
    "sum_of_sines",
]

_CLIP = pathlib.Path(__file__).parent / "speech" / "clip.wav"


def _check_mu(mu: int, owner: str) -> int:
    if isinstance(mu, bool) or not isinstance(mu, (int, np.integer)) or mu < 1:
        raise ValueError(f"{owner}: argument `mu` must be an integer >= 1; got {mu!r}.")
    return int(mu)


def mu_law_encode(x: ArrayLike, mu: int = 255) -> np.ndarray:
    """Signal in `[-1, 1]` to integer levels `0..mu` (mu-law, then rounding).

    `level = round((F(x) + 1) / 2 * mu)` with `F` the mu-law compander.

    Args:
      x: real values in `[-1, 1]`.
      mu: the compander's `mu` (255: 256 levels).

    Returns:
      int32 array of the shape of `x`.

    Raises:
      ValueError: values outside `[-1, 1]` (or NaN), or a bad `mu`.

    #### Examples

    >>> mu_law_encode([-1.0, 0.0, 1.0]).tolist()
    [0, 128, 255]
    """
    mu = _check_mu(mu, "mu_law_encode")
    x = np.asarray(x, np.float64)
    if x.size and (np.isnan(x).any() or np.abs(x).max() > 1.0):
        raise ValueError(
            "mu_law_encode: argument `x` must hold values in [-1, 1] (scale the "
            f"signal first); got values in {np.nanmin(x)}..{np.nanmax(x)}"
            + (" and NaN." if np.isnan(x).any() else ".")
        )
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.round((y + 1.0) * 0.5 * mu).astype(np.int32)


def mu_law_decode(levels: ArrayLike, mu: int = 255) -> np.ndarray:
    """Levels `0..mu` to the signal: `F^{-1}(2 level / mu - 1)`.

    `F^{-1}(y) = sign(y) ((1 + mu)^|y| - 1) / mu`.

    Args:
      levels: integer levels in `0..mu`.
      mu: the compander's `mu`.

    Returns:
      float32 array in `[-1, 1]`, the shape of `levels`.

    Raises:
      ValueError: levels outside `0..mu`, or a bad `mu`.

    #### Examples

    >>> mu_law_decode([0, 255]).tolist()
    [-1.0, 1.0]
    """
    mu = _check_mu(mu, "mu_law_decode")
    q = np.asarray(levels, np.float64)
    if q.size and (np.isnan(q).any() or q.min() < 0 or q.max() > mu):
        raise ValueError(
            f"mu_law_decode: argument `levels` must hold levels in 0..{mu}; got "
            f"values in {np.nanmin(q)}..{np.nanmax(q)}."
        )
    y = 2.0 * q / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def _rng(seed: int | None) -> np.random.RandomState:
    return np.random.RandomState(seed)


def sum_of_sines(
    length: int,
    frequencies: Sequence[float],
    *,
    amplitudes: Sequence[float] | None = None,
    phases: Sequence[float] | None = None,
    sample_rate: float = 16000.0,
    noise_std: float = 0.0,
    seed: int | None = 0,
) -> np.ndarray:
    """`x_t = sum_j a_j sin(2 pi f_j t / sample_rate + p_j) + noise`.

    Args:
      length: number of samples.
      frequencies: `f_j` in Hz.
      amplitudes: `a_j` (default: `1 / len(frequencies)` each, so `|x| <= 1`
        without noise).
      phases: `p_j` in radians (default 0).
      sample_rate: samples per second.
      noise_std: standard deviation of added white Gaussian noise.
      seed: seed of the noise.

    Returns:
      float32 `[length]`.

    #### Examples

    >>> x = sum_of_sines(8, [2000.0], sample_rate=16000.0)
    >>> [round(float(v), 3) for v in x[:3]]
    [0.0, 0.707, 1.0]
    """
    freqs = np.asarray(frequencies, np.float64)
    amps = (
        np.full(freqs.shape, 1.0 / max(len(freqs), 1))
        if amplitudes is None
        else np.asarray(amplitudes, np.float64)
    )
    ph = np.zeros(freqs.shape) if phases is None else np.asarray(phases, np.float64)
    t = np.arange(int(length))[:, None] / float(sample_rate)
    x = np.sum(amps * np.sin(2.0 * np.pi * freqs * t + ph), axis=1)
    if noise_std:
        x = x + noise_std * _rng(seed).normal(size=x.shape)
    return x.astype(np.float32)


def chirp(
    length: int,
    *,
    f0: float = 100.0,
    f1: float = 4000.0,
    sample_rate: float = 16000.0,
    amplitude: float = 1.0,
) -> np.ndarray:
    """A linear chirp: frequency from `f0` to `f1` Hz over the signal.

    `x_t = A sin(2 pi (f0 s + (f1 - f0) s^2 / (2 D)))` with `s = t /
    sample_rate` and `D = length / sample_rate` the duration.

    Args:
      length: number of samples.
      f0: start frequency (Hz).
      f1: end frequency (Hz).
      sample_rate: samples per second.
      amplitude: `A`.

    Returns:
      float32 `[length]`.

    #### Examples

    >>> chirp(4, f0=0.0, f1=0.0).tolist()
    [0.0, 0.0, 0.0, 0.0]
    """
    s = np.arange(int(length)) / float(sample_rate)
    duration = max(int(length), 1) / float(sample_rate)
    phase = 2.0 * np.pi * (f0 * s + (f1 - f0) * s**2 / (2.0 * duration))
    return (amplitude * np.sin(phase)).astype(np.float32)


def _check_coefficients(
    coefficients: Sequence[float] | np.ndarray, owner: str
) -> np.ndarray:
    phi = np.asarray(coefficients, np.float64).reshape(-1)
    if phi.size == 0:
        raise ValueError(
            f"{owner}: argument `coefficients` must list at least one AR "
            "coefficient; got an empty list."
        )
    # Stationary iff every root of 1 - phi_1 z - ... - phi_p z^p is outside
    # the unit circle, i.e. every eigenvalue of the companion matrix inside.
    roots = np.roots(np.concatenate([[1.0], -phi]))
    if np.any(np.abs(roots) >= 1.0):
        raise ValueError(
            f"{owner}: argument `coefficients` {phi.tolist()} gives a "
            "non-stationary AR process (a root of z^p - phi_1 z^(p-1) - ... - "
            f"phi_p has modulus {np.abs(roots).max():.4f} >= 1)."
        )
    return phi


def ar_autocovariance(
    coefficients: Sequence[float] | np.ndarray, noise_std: float, num_lags: int
) -> np.ndarray:
    """Autocovariances `gamma_0..gamma_{num_lags-1}` of a stationary AR(p).

    `gamma_0..gamma_p` solve the `p + 1` linear equations
    `gamma_k - sum_i phi_i gamma_{|k - i|} = sigma^2 [k = 0]`; further lags
    follow the recursion `gamma_k = sum_i phi_i gamma_{k-i}` (Brockwell &
    Davis, Section 3.3).

    Args:
      coefficients: `phi_1..phi_p` (stationary).
      noise_std: `sigma`.
      num_lags: how many lags to return.

    Returns:
      float64 `[num_lags]`.

    #### Examples

    >>> np.round(ar_autocovariance([0.5], 1.0, 3), 4).tolist()
    [1.3333, 0.6667, 0.3333]
    """
    phi = _check_coefficients(coefficients, "ar_autocovariance")
    p = phi.size
    a = np.eye(p + 1)
    for k in range(p + 1):
        for i in range(1, p + 1):
            a[k, abs(k - i)] -= phi[i - 1]
    rhs = np.zeros(p + 1)
    rhs[0] = noise_std**2
    gamma = list(np.linalg.solve(a, rhs))
    while len(gamma) < num_lags:
        k = len(gamma)
        gamma.append(float(sum(phi[i - 1] * gamma[k - i] for i in range(1, p + 1))))
    return np.asarray(gamma[:num_lags])


def ar_process(
    num: int,
    length: int,
    coefficients: Sequence[float] | np.ndarray,
    *,
    noise_std: float = 1.0,
    seed: int | None = 0,
) -> np.ndarray:
    """`num` stationary AR(p) sequences of `length` steps, float64.

    The first `p` values are drawn from their stationary distribution
    `N(0, Gamma_p)` (Toeplitz of `ar_autocovariance`), so the sequences are
    stationary from the first step (no burn-in).

    Args:
      num: number of sequences.
      length: steps per sequence.
      coefficients: `phi_1..phi_p`.
      noise_std: `sigma` of the innovations.
      seed: seed of the draws.

    Returns:
      float64 `[num, length]`.

    Raises:
      ValueError: non-stationary coefficients.

    #### Examples

    >>> ar_process(2, 5, [0.9], seed=1).shape
    (2, 5)
    """
    phi = _check_coefficients(coefficients, "ar_process")
    p = phi.size
    rng = _rng(seed)
    gamma = ar_autocovariance(phi, noise_std, p)
    cov = gamma[np.abs(np.arange(p)[:, None] - np.arange(p)[None, :])]
    x = np.zeros((int(num), int(length)))
    head = rng.multivariate_normal(np.zeros(p), cov, size=int(num))
    x[:, : min(p, length)] = head[:, : min(p, length)]
    noise = rng.normal(scale=noise_std, size=x.shape)
    for t in range(p, int(length)):
        x[:, t] = x[:, t - p : t][:, ::-1] @ phi + noise[:, t]
    return x


def ar_log_likelihood(
    x: ArrayLike, coefficients: Sequence[float] | np.ndarray, noise_std: float = 1.0
) -> np.ndarray:
    """Exact Gaussian log-likelihood of stationary AR(p) sequences `[..., T]`.

        log p(x) = log N(x_{0:p}; 0, Gamma_p)
                   + sum_{t >= p} log N(x_t; sum_i phi_i x_{t-i}, sigma^2)

    (the first `p` values from the stationary distribution, the rest from
    the recursion; Brockwell & Davis, Section 8.7).

    Args:
      x: `[..., T]` sequences (T >= 1).
      coefficients: `phi_1..phi_p`.
      noise_std: `sigma`.

    Returns:
      float64 `[...]`, in nats.

    #### Examples

    >>> float(np.round(ar_log_likelihood([0.0], [0.5], 1.0), 4))
    -1.0628
    """
    phi = _check_coefficients(coefficients, "ar_log_likelihood")
    x = np.asarray(x, np.float64)
    p = phi.size
    length = x.shape[-1]
    m = min(p, length)
    gamma = ar_autocovariance(phi, noise_std, m)
    cov = gamma[np.abs(np.arange(m)[:, None] - np.arange(m)[None, :])]
    head = x[..., :m]
    _, logdet = np.linalg.slogdet(cov)
    quad = np.sum(head * np.linalg.solve(cov, head[..., None])[..., 0], axis=-1)
    lp = -0.5 * (m * np.log(2.0 * np.pi) + logdet + quad)
    if length > p:
        lags = np.stack([x[..., p - i : length - i] for i in range(1, p + 1)], -1)
        resid = x[..., p:] - lags @ phi
        lp = lp + np.sum(
            -0.5 * np.log(2.0 * np.pi * noise_std**2) - 0.5 * resid**2 / noise_std**2,
            axis=-1,
        )
    return lp


def ar_entropy_rate(noise_std: float = 1.0) -> float:
    """Entropy rate of a Gaussian AR process: `0.5 log(2 pi e sigma^2)` nats.

    The limit of `-E[log p(x_{0:T})] / T` (the innovations' entropy).

    Args:
      noise_std: `sigma`.

    Returns:
      nats per step.

    #### Examples

    >>> round(ar_entropy_rate(1.0), 4)
    1.4189
    """
    return float(0.5 * np.log(2.0 * np.pi * np.e * noise_std**2))


def load_speech_clip(*, mu_law: bool = False, mu: int = 255) -> tuple[np.ndarray, int]:
    """The shipped speech clip: `(signal, sample_rate)`.

    3.74 s of synthetic English speech ("This short clip of synthetic speech
    was made for the tests."), made with eSpeak NG (GPL-3.0-or-later; the
    audio is the program's output), 16 kHz, 16-bit mono; see
    `tfp_flows/data/speech/README.md`. Read with the standard library's
    `wave` module.

    Args:
      mu_law: return mu-law levels `0..mu` (int32) instead of the waveform.
      mu: the compander's `mu` (with `mu_law=True`).

    Returns:
      `(x, 16000)`: float32 samples in `[-1, 1)` (int16 / 32768), or int32
      mu-law levels.

    #### Examples

    >>> x, rate = load_speech_clip()
    >>> rate, x.shape, x.dtype.name
    (16000, (59774,), 'float32')
    >>> int(load_speech_clip(mu_law=True)[0].max()) <= 255
    True
    """
    with wave.open(str(_CLIP), "rb") as f:
        rate = f.getframerate()
        if f.getsampwidth() != 2 or f.getnchannels() != 1:  # pragma: no cover
            raise ValueError(f"load_speech_clip: {_CLIP} is not 16-bit mono.")
        frames = f.readframes(f.getnframes())
    x = (np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0).astype(np.float32)
    if mu_law:
        return mu_law_encode(x, mu), rate
    return x, rate
