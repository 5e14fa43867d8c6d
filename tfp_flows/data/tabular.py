"""Tabular data from `.npy` / `.npz` / `.csv` files, standardized as in MAF.

`load_table(path, split=...)` returns one split of a fixed, seeded
train/validation/test split (`tfp_flows.data.split_indices`) as float32
`[N, D]`, standardized with the mean and standard deviation of the
*training* split, the protocol of the MAF paper's UCI experiments [1]. The
`Standardizer` holding those statistics is returned, and saved beside a
trained model (`Standardizer.save`) so that evaluation, sampling and
densities in data units use the same statistics:

    z = (x - mean) / std,        log p_x(x) = log p_z(z) + sum_j -log std_j,

`Standardizer.log_det()` being the second term (the log-determinant of the
Jacobian `dz/dx`). A model's test nats in data units are then
`-(mean log p_z(z) + log_det())`.

#### References

[1] George Papamakarios, Theo Pavlakou, Iain Murray. Masked Autoregressive
    Flow for Density Estimation. NeurIPS 2017 (Sec. 4.2, UCI data sets).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pathlib
from typing import Any

import numpy as np

from tfp_flows.data.preprocess import check_split_args
from tfp_flows.data.preprocess import split_indices

__all__ = ["Standardizer", "load_table"]

_OWNER = "load_table"
_ARRAY_KEYS = ("x", "data")
_JSON_TYPE = "tfp_flows.data.Standardizer"


@dataclasses.dataclass(frozen=True, eq=False)
class Standardizer:
    """Per-column standardization `z = (x - mean) / std` with fixed statistics.

    Build it with `Standardizer.fit(train_x)` (or get it from `load_table`),
    save it beside the model with `save`, and `load` it for evaluation.

    Attributes:
      mean: float64 `[D]`, the training split's column means.
      std: float64 `[D]`, the training split's column standard deviations
        (population, `ddof=0`), all > 0.

    #### Examples

    >>> import numpy as np
    >>> s = Standardizer.fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
    >>> s.apply(np.array([[1.0, 20.0]])).tolist()
    [[0.0, 0.0]]
    >>> round(s.log_det(), 6)  # -log(1) - log(10)
    -2.302585
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, np.float64)
        std = np.asarray(self.std, np.float64)
        if mean.ndim != 1 or std.shape != mean.shape or mean.size == 0:
            raise ValueError(
                "Standardizer: arguments `mean` and `std` must be vectors of one "
                f"length D >= 1; got shapes {list(mean.shape)} and "
                f"{list(std.shape)}."
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ValueError(
                "Standardizer: arguments `mean` and `std` must be finite; got "
                f"mean={mean.tolist()}, std={std.tolist()}."
            )
        if np.any(std <= 0):
            j = int(np.argmax(std <= 0))
            raise ValueError(
                f"Standardizer: argument `std` must be > 0 in every column; got "
                f"{float(std[j])!r} in column {j} (a constant column: drop it)."
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @property
    def num_columns(self) -> int:
        """D, the number of columns."""
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        """The statistics of `x` `[N, D]` (use the training split only).

        Args:
          x: finite array `[N, D]`, N >= 1.

        Returns:
          A `Standardizer`.

        Raises:
          ValueError: `x` not of rank 2, empty, non-finite, or with a constant
            column (std 0), naming the column.
        """
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                "Standardizer.fit: argument `x` must have shape [N, D] with N, "
                f"D >= 1; got shape {list(x.shape)}."
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("Standardizer.fit: argument `x` must be finite.")
        std = x.std(axis=0)
        if np.any(std <= 0):
            j = int(np.argmax(std <= 0))
            raise ValueError(
                f"Standardizer.fit: column {j} of `x` is constant "
                f"({float(x[0, j])!r} in all {x.shape[0]} rows): its std is 0; drop "
                "the column."
            )
        return cls(mean=x.mean(axis=0), std=std)

    def _check(self, x: np.ndarray, arg_name: str, method: str) -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim < 1 or arr.shape[-1] != self.num_columns:
            raise ValueError(
                f"Standardizer.{method}: argument `{arg_name}` must have shape "
                f"[..., {self.num_columns}]; got shape {list(arr.shape)}."
            )
        return arr

    def apply(self, x: np.ndarray) -> np.ndarray:
        """`(x - mean) / std`, float32 (float64 for float64 input).

        Args:
          x: array `[..., D]`.

        Returns:
          The standardized array, same shape.

        Raises:
          ValueError: the last dimension is not D.
        """
        arr = self._check(x, "x", "apply")
        out = (arr.astype(np.float64) - self.mean) / self.std
        return out.astype(np.float64 if arr.dtype == np.float64 else np.float32)

    def invert(self, z: np.ndarray) -> np.ndarray:
        """`z * std + mean`, back in data units (float32, or float64 input's).

        Args:
          z: array `[..., D]` of standardized values (e.g. samples).

        Returns:
          The array in data units, same shape.

        Raises:
          ValueError: the last dimension is not D.
        """
        arr = self._check(z, "z", "invert")
        out = arr.astype(np.float64) * self.std + self.mean
        return out.astype(np.float64 if arr.dtype == np.float64 else np.float32)

    def log_det(self) -> float:
        """`sum_j -log std_j`, `log |det dz/dx|`.

        Add it to a model's `log_prob(z)` of standardized data to get the
        log-density in data units.

        Returns:
          A Python float.
        """
        return float(-np.sum(np.log(self.std)))

    def to_json(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict (exact: floats round-trip).

        Returns:
          `{"type": "tfp_flows.data.Standardizer", "mean": [...], "std": [...]}`.
        """
        return {
            "type": _JSON_TYPE,
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Standardizer:
        """Rebuilds a `Standardizer` from `to_json`'s dict.

        Args:
          d: the dict.

        Returns:
          A `Standardizer`.

        Raises:
          ValueError: not such a dict, or invalid statistics.
        """
        if (
            not isinstance(d, dict)
            or d.get("type") != _JSON_TYPE
            or not isinstance(d.get("mean"), list)
            or not isinstance(d.get("std"), list)
        ):
            shown = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ValueError(
                "Standardizer.from_json: argument `d` must be a dict from "
                f"`to_json` (type {_JSON_TYPE!r} with lists 'mean' and 'std'); "
                f"got {shown}."
            )
        return cls(mean=np.asarray(d["mean"]), std=np.asarray(d["std"]))

    @staticmethod
    def path_for(model_path: str | os.PathLike[str]) -> pathlib.Path:
        """Where the statistics of a model live: `MODEL.standardizer.json`.

        Args:
          model_path: the model's file, e.g. `out/maf.keras`.

        Returns:
          `out/maf.standardizer.json`.

        #### Examples

        >>> Standardizer.path_for("out/maf.keras").as_posix()
        'out/maf.standardizer.json'
        """
        path = pathlib.Path(model_path)
        return path.with_name(path.stem + ".standardizer.json")

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes `to_json()` to the JSON file `path`.

        Args:
          path: file to write (its folder must exist).
        """
        pathlib.Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Standardizer:
        """Reads a file written by `save`.

        Args:
          path: the JSON file.

        Returns:
          A `Standardizer`.

        Raises:
          FileNotFoundError: no such file.
          ValueError: the file is not a saved `Standardizer` (naming it).
        """
        p = pathlib.Path(path)
        if not p.is_file():
            raise FileNotFoundError(
                f"Standardizer.load: no standardizer file {str(p)!r}."
            )
        try:
            d = json.loads(p.read_text())
            return cls.from_json(d)
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(
                f"Standardizer.load: file {str(p)!r} is not a saved Standardizer: {err}"
            ) from err


def load_table(
    source: str | os.PathLike[str],
    *,
    split: str = "train",
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    standardize: bool = True,
    standardizer: Standardizer | None = None,
) -> tuple[np.ndarray, Standardizer | None]:
    """Loads one split of a table `[N, D]` as float32, standardized.

    Files: `.npy` (one array `[N, D]`), `.npz` (one array, or the key `"x"`
    or `"data"`), `.csv` (comma-separated numbers, one row per example; a
    first row of names is a header, detected when none of its fields is a
    number). Every value must be a finite number.

    The split is `split_indices(N, split, ...)`: a permutation from `seed`
    cut into test (`round(test_fraction * N)` rows), validation
    (`round(validation_fraction * N)`) and train (the rest); e.g. 1000 rows
    with the defaults give 800 / 100 / 100. With `standardize` the rows are
    standardized with the statistics of the *training* split (computed from
    the file on every call, so every split of one file and seed gets the
    same ones), unless `standardizer` is given (e.g. loaded beside a
    model).

    Args:
      source: path of a `.npy`, `.npz` or `.csv` file.
      split: `"train"`, `"validation"`, `"test"` or `"all"` (every row, in
        file order).
      validation_fraction: fraction of rows in the validation split.
      test_fraction: fraction of rows in the test split.
      seed: seed of the split (an integer); the same seed, the same split.
      standardize: standardize the columns (False: raw values, no
        standardizer).
      standardizer: statistics to use instead of the training split's.

    Returns:
      `(x, standardizer)`: float32 `[N_split, D]` and the `Standardizer`
      used (None without `standardize`).

    Raises:
      FileNotFoundError: no such file.
      ValueError: bad arguments; an unreadable file, a file of the wrong kind
        or rank; a NaN, infinite, empty or non-numeric value (naming the
        file, row and column); a constant column in the training split; a
        `standardizer` with a different number of columns.

    #### Examples

    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.npy")
    >>> np.save(path, np.arange(20.0).reshape(10, 2))
    >>> x, s = load_table(path, split="test")
    >>> x.shape, x.dtype.name, s.num_columns
    ((1, 2), 'float32', 2)
    """
    val, test, seed = check_split_args(
        split, validation_fraction, test_fraction, seed, _OWNER
    )
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"{_OWNER}: argument `source` must be a path (str or os.PathLike); "
            f"got {type(source).__name__} {source!r}."
        )
    if standardizer is not None and not isinstance(standardizer, Standardizer):
        raise ValueError(
            f"{_OWNER}: argument `standardizer` must be None or a Standardizer; "
            f"got {type(standardizer).__name__}."
        )
    if standardizer is not None and not standardize:
        raise ValueError(
            f"{_OWNER}: argument `standardizer` was given with `standardize="
            "False`; pass `standardize=True` to apply it, or drop it."
        )
    path = pathlib.Path(source)
    table = _read_table(path)
    if standardizer is not None and standardizer.num_columns != table.shape[1]:
        raise ValueError(
            f"{_OWNER}: argument `standardizer` has {standardizer.num_columns} "
            f"columns, but file {str(path)!r} has {table.shape[1]}."
        )

    def rows(name: str) -> np.ndarray:
        return table[
            split_indices(
                len(table),
                name,
                validation_fraction=val,
                test_fraction=test,
                seed=seed,
                owner=_OWNER,
            )
        ]

    x = rows(split)
    if not standardize:
        return x.astype(np.float32), None
    if standardizer is None:
        train = rows("train")
        std = train.std(axis=0)
        if np.any(std <= 0):
            j = int(np.argmax(std <= 0))
            raise ValueError(
                f"{_OWNER}: column {j} of file {str(path)!r} is constant in the "
                f"training split ({float(train[0, j])!r} in all {len(train)} rows): "
                "its std is 0; drop the column."
            )
        standardizer = Standardizer(mean=train.mean(axis=0), std=std)
    return standardizer.apply(x.astype(np.float64)).astype(np.float32), standardizer


def _read_table(path: pathlib.Path) -> np.ndarray:
    """The whole file as a finite float64 `[N, D]` array."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{_OWNER}: argument `source`: no such file {str(path)!r}."
        )
    suffix = path.suffix.lower()
    where = f"file {str(path)!r}"
    if suffix == ".csv":
        return _read_csv(path)
    if suffix not in (".npy", ".npz"):
        raise ValueError(
            f"{_OWNER}: argument `source` must be a .npy, .npz or .csv file; got "
            f"{str(path)!r} (suffix {suffix!r})."
        )
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                keys = list(loaded.keys())
                key = next((k for k in _ARRAY_KEYS if k in keys), None)
                if key is None and len(keys) == 1:
                    key = keys[0]
                if key is None:
                    raise ValueError(
                        f"{_OWNER}: {where} must hold one array, or one under the "
                        f"key 'x' or 'data'; got the keys {keys}."
                    )
                arr = np.asarray(loaded[key])
        else:
            arr = np.asarray(loaded)
    except ValueError as err:
        if str(err).startswith(_OWNER):
            raise
        raise ValueError(f"{_OWNER}: cannot read {where}: {err}") from err
    except Exception as err:  # numpy raises several kinds
        raise ValueError(f"{_OWNER}: cannot read {where}: {err}") from err
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        hint = " (one column: reshape(-1, 1))" if arr.ndim == 1 else ""
        raise ValueError(
            f"{_OWNER}: the array of {where} must have shape [N, D] with N, D >= "
            f"1; got shape {list(arr.shape)}{hint}."
        )
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(
            f"{_OWNER}: the array of {where} must be numeric; got dtype {arr.dtype}."
        )
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if np.any(bad):
        i, j = (int(v[0]) for v in np.nonzero(bad))
        raise ValueError(
            f"{_OWNER}: {where} holds {float(arr[i, j])!r} at row {i}, column {j} "
            "(0-based); every value must be a finite number."
        )
    return arr


def _parse_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv(path: pathlib.Path) -> np.ndarray:
    where = f"file {str(path)!r}"
    try:
        with path.open(newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{_OWNER}: cannot read {where} as CSV: {err}") from err
    numbered = [
        (n, [v.strip() for v in row])
        for n, row in enumerate(lines, start=1)
        if row and any(v.strip() for v in row)
    ]
    if not numbered:
        raise ValueError(f"{_OWNER}: {where} holds no rows.")
    names: list[str] | None = None
    first = numbered[0][1]
    if all(_parse_float(v) is None for v in first):
        names = first
        numbered = numbered[1:]
        if not numbered:
            raise ValueError(f"{_OWNER}: {where} holds a header but no data rows.")
    width = len(names) if names is not None else len(numbered[0][1])

    def column(j: int) -> str:
        return f"column {j} ({names[j]!r})" if names is not None else f"column {j}"

    out = np.empty((len(numbered), width), np.float64)
    for i, (line, row) in enumerate(numbered):
        if len(row) != width:
            raise ValueError(
                f"{_OWNER}: {where} line {line} (data row {i}) has {len(row)} "
                f"fields; expected {width}."
            )
        for j, text in enumerate(row):
            value = _parse_float(text)
            if value is None:
                what = "an empty value" if not text else f"{text!r}, not a number"
                raise ValueError(
                    f"{_OWNER}: {where} line {line} (data row {i}), {column(j)} "
                    f"holds {what}; only numeric columns are supported."
                )
            if not math.isfinite(value):
                raise ValueError(
                    f"{_OWNER}: {where} line {line} (data row {i}), {column(j)} "
                    f"holds {text!r}; every value must be a finite number."
                )
            out[i, j] = value
    return out
