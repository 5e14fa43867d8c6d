"""Images from shipped sets, NumPy files, folders of PNG/JPEG files and TFDS.

`load_images(source, split=...)` returns `uint8` images `[N, H, W, C]`
(`C` = 1 or 3) of one split of a fixed, seeded train/validation/test split
(`tfp_flows.data.split_indices`). Nothing is ever downloaded.

Sources:

- `"digits"`: scikit-learn's 1797 8x8 grey digits, levels 0..16
  (`image_num_levels` gives 17), labels 0..9.
- `"rgb_patches"`: 520 colour patches of 32x32 pixels, the non-overlapping
  13 x 20 grid of each of the two photos that scikit-learn ships
  (`sklearn.datasets.load_sample_images`: china.jpg and flower.jpg, 427 x 640,
  CC BY 2.0); the grid starts at row 5 (the 11 spare rows split 5 above, 6
  below). Label 0 (china) or 1 (flower).
- a `.npy` / `.npz` file of `[N, H, W, C]` or `[N, H, W]` images (`.npz`:
  one array, or the key `"x"`, `"images"` or `"data"`; labels under `"y"` or
  `"labels"`). Integer arrays are levels 0..255. Float arrays follow this
  convention (anything else is rejected):

  - all values integers in 0..255 with some value above 1: levels, as is;
  - values in `[0, 1]`, not all 0 or 1: intensities, `round(255 * x)`;
  - only the values 0 and 1: ambiguous (levels 0/1, or black/white
    intensities?), rejected: cast to `uint8` for levels, or multiply by 255;
  - negative, non-finite, above 255, or non-integer values above 1 (e.g.
    already dequantized data): rejected.
- a folder of PNG/JPEG/BMP/GIF files (sorted by name), either directly in it
  or in one level of class subfolders (labels: the subfolders' sorted
  order). Grey images are made RGB when any image is colour; alpha is
  dropped. Without `image_size` all images must have one size.
- `"tfds:NAME"` (or `"tfds:NAME/CONFIG"`, `"tfds:NAME:VERSION"`): a
  `tensorflow_datasets` set that is already prepared in the local data
  directory (`$TFDS_DATA_DIR`, default `~/tensorflow_datasets`); it is never
  downloaded. TFDS's own `"test"` (and `"validation"`) splits are used where
  the set has them (then `test_fraction` is not used); a missing validation
  split is cut from TFDS's `"train"` by `validation_fraction`.

With `image_size=(H, W)` every image is resized (aspect kept, shorter side
to fit; area averaging when shrinking, bilinear when enlarging) and
center-cropped to `H x W`.
"""

from __future__ import annotations

import functools
import importlib
import os
import pathlib
from collections.abc import Sequence
from typing import Any
from typing import Literal
from typing import overload

import numpy as np
import tensorflow as tf

from tfp_flows.data.digits import NUM_LEVELS as DIGITS_NUM_LEVELS
from tfp_flows.data.digits import load_digits
from tfp_flows.data.preprocess import check_split_args
from tfp_flows.data.preprocess import split_indices

__all__ = [
    "IMAGE_SUFFIXES",
    "RGB_PATCH_SIZE",
    "image_num_levels",
    "load_images",
]

#: File name endings (lower case) that a folder source reads.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

#: Side of the shipped `"rgb_patches"` (32x32 pixels).
RGB_PATCH_SIZE = 32

_NAMED = ("digits", "rgb_patches")
_OWNER = "load_images"
_ARRAY_KEYS = ("x", "images", "data")
_LABEL_KEYS = ("y", "labels")

_Images = np.ndarray
_Labels = np.ndarray | None


def image_num_levels(source: str | os.PathLike[str]) -> int:
    """The number of pixel levels of a `load_images` source.

    Args:
      source: as `load_images` takes it.

    Returns:
      17 for `"digits"` (levels 0..16), 256 for every other source.

    Raises:
      TypeError: `source` is not a string or path.

    #### Examples

    >>> image_num_levels("digits"), image_num_levels("rgb_patches")
    (17, 256)
    """
    _check_source_type(source, "image_num_levels")
    return DIGITS_NUM_LEVELS if source == "digits" else 256


@overload
def load_images(
    source: str | os.PathLike[str],
    *,
    split: str = ...,
    image_size: tuple[int, int] | None = ...,
    validation_fraction: float = ...,
    test_fraction: float = ...,
    seed: int = ...,
    with_labels: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def load_images(
    source: str | os.PathLike[str],
    *,
    split: str = ...,
    image_size: tuple[int, int] | None = ...,
    validation_fraction: float = ...,
    test_fraction: float = ...,
    seed: int = ...,
    with_labels: Literal[True],
) -> tuple[np.ndarray, np.ndarray]: ...


@overload
def load_images(
    source: str | os.PathLike[str],
    *,
    split: str = ...,
    image_size: tuple[int, int] | None = ...,
    validation_fraction: float = ...,
    test_fraction: float = ...,
    seed: int = ...,
    with_labels: bool,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...


def load_images(
    source: str | os.PathLike[str],
    *,
    split: str = "train",
    image_size: tuple[int, int] | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    with_labels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Loads one split of an image set as `uint8` `[N, H, W, C]` (see module docs).

    The split is `split_indices(N, split, ...)`: a permutation from `seed`
    cut into test (`round(test_fraction * N)` images), validation
    (`round(validation_fraction * N)`) and train (the rest). With the
    defaults (0.1, 0.1, seed 0): `"digits"` 1437 / 180 / 180 of 1797 and
    `"rgb_patches"` 416 / 52 / 52 of 520. (`load_digits`'s older fixed
    train/test split of 1437 / 360 is a different one: do not mix the two.)

    Args:
      source: `"digits"`, `"rgb_patches"`, `"tfds:NAME"`, or the path of a
        `.npy` / `.npz` file or of a folder of image files.
      split: `"train"`, `"validation"`, `"test"` or `"all"` (every image, in
        the source's order).
      image_size: None, or `(H, W)` to resize and center-crop every image to.
      validation_fraction: fraction of the images in the validation split.
      test_fraction: fraction of the images in the test split.
      seed: seed of the split (an integer); the same seed gives the same
        split.
      with_labels: also return the int64 labels `[N]` (only for sources that
        have them).

    Returns:
      `uint8` array `[N, H, W, C]`, and the labels with `with_labels`.

    Raises:
      ValueError: bad arguments; a file or array of the wrong rank, channel
        count or value range; a file that cannot be read or decoded (named);
        images of mixed sizes without `image_size` (naming files); a TFDS
        set that is not prepared locally, or `tensorflow_datasets` missing;
        `with_labels` for a source without labels.
      FileNotFoundError: `source` is neither a known name nor an existing
        path.
      TypeError: `source` is not a string or path.

    #### Examples

    >>> x, y = load_images("rgb_patches", split="test", with_labels=True)
    >>> x.shape, x.dtype.name, sorted(set(y.tolist()))
    ((52, 32, 32, 3), 'uint8', [0, 1])
    """
    _check_source_type(source, _OWNER)
    val, test, seed = check_split_args(
        split, validation_fraction, test_fraction, seed, _OWNER
    )
    size = _check_image_size(image_size)
    text = os.fspath(source)
    if text.startswith("tfds:"):
        images, labels = _load_tfds(text[len("tfds:") :], split, size, val, test, seed)
    else:
        if text in _NAMED:
            images, labels = _load_named(text)
        else:
            images, labels = _load_path(pathlib.Path(text), size)
        idx = split_indices(
            len(images),
            split,
            validation_fraction=val,
            test_fraction=test,
            seed=seed,
            owner=_OWNER,
        )
        images = images[idx]
        labels = None if labels is None else labels[idx]
        if size is not None:
            images = _resize_crop(images, size)
    if not with_labels:
        return images
    if labels is None:
        raise ValueError(
            f"{_OWNER}: argument `with_labels=True`, but source {text!r} has no "
            "labels (a .npz needs a 'y' or 'labels' array; a folder needs class "
            "subfolders)."
        )
    return images, labels


# ---------------------------------------------------------------- arguments


def _check_source_type(source: object, owner: str) -> None:
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"{owner}: argument `source` must be a name or a path (str or "
            f"os.PathLike); got {type(source).__name__} {source!r}."
        )


def _check_image_size(image_size: object) -> tuple[int, int] | None:
    if image_size is None:
        return None
    ok = (
        isinstance(image_size, Sequence)
        and not isinstance(image_size, str)
        and len(image_size) == 2
        and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
            for v in image_size
        )
    )
    if not ok:
        raise ValueError(
            f"{_OWNER}: argument `image_size` must be None or a pair of integers "
            f"(height, width) >= 1; got {image_size!r}."
        )
    assert isinstance(image_size, Sequence)
    return int(image_size[0]), int(image_size[1])


# ---------------------------------------------------------------- sources


def _load_named(name: str) -> tuple[_Images, _Labels]:
    if name == "digits":
        images, labels = load_digits("all", with_labels=True)
        return images, labels
    images, labels = _rgb_patches()
    return images.copy(), labels.copy()


@functools.lru_cache(maxsize=1)
def _rgb_patches() -> tuple[np.ndarray, np.ndarray]:
    """The 520 shipped 32x32 patches (cached; callers copy)."""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images  # china.jpg, flower.jpg
    p = RGB_PATCH_SIZE
    patches, labels = [], []
    for label, photo in enumerate(photos):
        h, w = photo.shape[0] // p, photo.shape[1] // p
        top = (photo.shape[0] - h * p) // 2
        left = (photo.shape[1] - w * p) // 2
        grid = photo[top : top + h * p, left : left + w * p]
        grid = grid.reshape(h, p, w, p, 3).transpose(0, 2, 1, 3, 4)
        patches.append(grid.reshape(h * w, p, p, 3))
        labels.append(np.full(h * w, label, np.int64))
    return np.concatenate(patches).astype(np.uint8), np.concatenate(labels)


def _load_path(
    path: pathlib.Path, size: tuple[int, int] | None
) -> tuple[_Images, _Labels]:
    if path.is_dir():
        return _load_folder(path, size)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".npy", ".npz"):
            return _load_array_file(path)
        raise ValueError(
            f"{_OWNER}: argument `source` must be a .npy or .npz file or a folder "
            f"of images; got the file {str(path)!r} (suffix {suffix!r})."
        )
    raise FileNotFoundError(
        f"{_OWNER}: argument `source` {str(path)!r} is neither a known name "
        f"({', '.join(repr(n) for n in _NAMED)}, 'tfds:NAME') nor an existing "
        "file or folder."
    )


def _load_array_file(path: pathlib.Path) -> tuple[_Images, _Labels]:
    where = f"file {str(path)!r}"
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as err:  # numpy raises several kinds
        raise ValueError(
            f"{_OWNER}: cannot read {where} as a NumPy array: {err}"
        ) from err
    labels = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            try:
                keys = list(loaded.keys())
                arrays = {k: loaded[k] for k in keys}
            except Exception as err:
                raise ValueError(
                    f"{_OWNER}: cannot read {where} as a NumPy .npz: {err}"
                ) from err
        label_key = next((k for k in _LABEL_KEYS if k in arrays), None)
        image_keys = [k for k in keys if k != label_key]
        key = next((k for k in _ARRAY_KEYS if k in arrays), None)
        if key is None and len(image_keys) == 1:
            key = image_keys[0]
        if key is None:
            raise ValueError(
                f"{_OWNER}: {where} must hold one image array, or one under the "
                f"key 'x', 'images' or 'data'; got the keys {keys}."
            )
        images = arrays[key]
        if label_key is not None:
            labels = np.asarray(arrays[label_key])
            if labels.shape != (len(images),) or not np.issubdtype(
                labels.dtype, np.integer
            ):
                raise ValueError(
                    f"{_OWNER}: the labels {label_key!r} of {where} must be "
                    f"integers of shape [{len(images)}] (one per image); got "
                    f"dtype {labels.dtype} and shape {list(labels.shape)}."
                )
            labels = labels.astype(np.int64)
    else:
        images = loaded
    return _to_uint8_images(np.asarray(images), where), labels


def _to_uint8_images(arr: np.ndarray, where: str) -> np.ndarray:
    """Checks rank and channels, and applies the float convention."""
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            f"{_OWNER}: the images of {where} must have shape [N, H, W, C] with "
            f"C = 1 or 3, or [N, H, W]; got shape {list(arr.shape)} (rank "
            f"{arr.ndim})."
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(
            f"{_OWNER}: {where} holds no images (shape {list(arr.shape)})."
        )
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(
                f"{_OWNER}: the integer images of {where} must hold levels "
                f"0..255; got values in {lo}..{hi}."
            )
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(
            f"{_OWNER}: the images of {where} must be integer or float; got dtype "
            f"{arr.dtype}."
        )
    if not np.all(np.isfinite(arr)):
        n, h, w, c = (int(i[0]) for i in np.nonzero(~np.isfinite(arr)))
        raise ValueError(
            f"{_OWNER}: the images of {where} hold a non-finite value "
            f"{float(arr[n, h, w, c])!r} (image {n}, pixel ({h}, {w}), channel {c})."
        )
    flo, fhi = float(arr.min()), float(arr.max())
    integral = bool(np.all(np.mod(arr, 1) == 0))
    if flo < 0 or fhi > 255:
        raise ValueError(
            f"{_OWNER}: the float images of {where} must hold intensities in "
            f"[0, 1] or levels 0..255; got values in {flo:g}..{fhi:g}."
        )
    if fhi > 1:
        if not integral:
            raise ValueError(
                f"{_OWNER}: the float images of {where} have values above 1 "
                f"(max {fhi:g}) that are not all integers: float images must be "
                "intensities in [0, 1] or integer levels 0..255 (already "
                "dequantized data?)."
            )
        return arr.astype(np.uint8)
    if integral:
        raise ValueError(
            f"{_OWNER}: the float images of {where} hold only the values 0 and 1, "
            "which is ambiguous (levels 0/1, or black/white intensities in [0, "
            "1]?). Cast to uint8 for levels, or multiply by 255 for intensities."
        )
    return np.round(arr.astype(np.float64) * 255.0).astype(np.uint8)


def _list_folder(folder: pathlib.Path) -> tuple[list[pathlib.Path], _Labels]:
    def images_in(d: pathlib.Path) -> list[pathlib.Path]:
        return sorted(
            (
                p
                for p in d.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ),
            key=lambda p: p.name,
        )

    top = images_in(folder)
    subdirs = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    classes = [(d, images_in(d)) for d in subdirs]
    classes = [(d, files) for d, files in classes if files]
    if top and classes:
        raise ValueError(
            f"{_OWNER}: folder {str(folder)!r} mixes image files "
            f"({top[0].name}, ...) with class subfolders ({classes[0][0].name}, "
            "...); use one layout."
        )
    if top:
        return top, None
    if not classes:
        raise ValueError(
            f"{_OWNER}: folder {str(folder)!r} holds no image files "
            f"({', '.join(IMAGE_SUFFIXES)}), directly or in class subfolders."
        )
    files = [f for _, fs in classes for f in fs]
    labels = np.concatenate(
        [np.full(len(fs), i, np.int64) for i, (_, fs) in enumerate(classes)]
    )
    return files, labels


def _decode_file(path: pathlib.Path) -> np.ndarray:
    try:
        data = tf.io.read_file(str(path))
        image = tf.io.decode_image(data, channels=0, expand_animations=False)
    except (tf.errors.OpError, ValueError) as err:
        detail = str(getattr(err, "message", err)).strip().splitlines()
        raise ValueError(
            f"{_OWNER}: cannot read image file {str(path)!r}: "
            f"{detail[0] if detail else type(err).__name__}"
        ) from err
    return np.asarray(image)


def _load_folder(
    folder: pathlib.Path, size: tuple[int, int] | None
) -> tuple[_Images, _Labels]:
    files, labels = _list_folder(folder)
    decoded = [_decode_file(f) for f in files]
    channels = 3 if any(im.shape[-1] >= 3 for im in decoded) else 1
    if size is None:
        by_size: dict[tuple[int, int], list[str]] = {}
        for f, im in zip(files, decoded, strict=True):
            by_size.setdefault((im.shape[0], im.shape[1]), []).append(
                str(f.relative_to(folder))
            )
        if len(by_size) > 1:
            parts = []
            for (h, w), names in sorted(by_size.items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
                parts.append(f"{h}x{w}: {len(names)} file(s) ({shown})")
            raise ValueError(
                f"{_OWNER}: the images of folder {str(folder)!r} have "
                f"{len(by_size)} different sizes ({'; '.join(parts)}); pass "
                "`image_size=(H, W)` to resize and crop them to one size."
            )
    out = []
    for im in decoded:
        im = im[..., :1] if im.shape[-1] == 2 else im[..., :3]
        if channels == 3 and im.shape[-1] == 1:
            im = np.repeat(im, 3, axis=-1)
        if size is not None:
            im = _resize_crop(im[None], size)[0]
        out.append(im)
    return np.stack(out).astype(np.uint8), labels


def _resize_crop(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (aspect kept, shorter side fits) and center-crop `[N, h, w, c]`."""
    h, w = images.shape[1], images.shape[2]
    height, width = size
    if (h, w) == (height, width):
        return images
    scale = max(height / h, width / w)
    new_h = max(height, int(round(h * scale)))
    new_w = max(width, int(round(w * scale)))
    method = "area" if scale < 1 else "bilinear"
    resized = tf.image.resize(
        tf.cast(images, tf.float32), (new_h, new_w), method=method, antialias=True
    )
    top, left = (new_h - height) // 2, (new_w - width) // 2
    cropped = resized[:, top : top + height, left : left + width]
    return np.asarray(tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8))


# ---------------------------------------------------------------- TFDS


def _load_tfds(
    spec: str,
    split: str,
    size: tuple[int, int] | None,
    validation_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[_Images, _Labels]:
    if not spec:
        raise ValueError(
            f"{_OWNER}: argument `source` 'tfds:' needs a data set name, e.g. "
            "'tfds:cifar10'."
        )
    try:
        tfds = importlib.import_module("tensorflow_datasets")
    except ImportError as err:
        raise ValueError(
            f"{_OWNER}: source 'tfds:{spec}' needs the package "
            "`tensorflow_datasets`, which is not installed (it is not a "
            "dependency of tfp_flows). Install it and prepare the set yourself; "
            "tfp_flows never downloads data."
        ) from err
    data_dir = os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets"
    )
    try:
        builder = tfds.builder(spec, data_dir=data_dir)
    except Exception as err:  # TFDS raises several kinds
        first = str(err).strip().splitlines()
        raise ValueError(
            f"{_OWNER}: TFDS has no data set {spec!r} in {data_dir!r} "
            f"({first[0] if first else type(err).__name__}). tfp_flows never "
            "downloads data: prepare it with TFDS first (set $TFDS_DATA_DIR to "
            "look elsewhere)."
        ) from err
    if not _tfds_prepared(builder):
        raise ValueError(
            f"{_OWNER}: the TFDS data set {spec!r} is not prepared in "
            f"{str(builder.data_dir)!r} (TFDS data_dir {data_dir!r}). tfp_flows "
            "never downloads data: prepare it with TFDS first (e.g. "
            f"`tfds build {spec.split('/')[0].split(':')[0]}`), or set "
            "$TFDS_DATA_DIR to where it is."
        )
    available = sorted(builder.info.splits.keys())
    image_key, label_key = _tfds_keys(builder, spec)

    def read(names: list[str]) -> tuple[np.ndarray, _Labels]:
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        for name in names:
            ds = builder.as_dataset(split=name, shuffle_files=False)
            x, y = _tfds_arrays(ds, image_key, label_key, size, spec, name)
            xs.append(x)
            if y is not None:
                ys.append(y)
        labels = np.concatenate(ys) if ys else None
        return np.concatenate(xs), labels

    if split == "all":
        return read(available)
    if "test" in available:
        if split == "test":
            return read(["test"])
        train_names = [n for n in ("train",) if n in available]
        if not train_names:
            raise ValueError(
                f"{_OWNER}: the TFDS data set {spec!r} has no 'train' split; it "
                f"has {available}."
            )
        if "validation" in available:
            return read(["validation" if split == "validation" else "train"])
        images, labels = read(train_names)
        val, test = validation_fraction, 0.0
    else:
        if "train" not in available:
            raise ValueError(
                f"{_OWNER}: the TFDS data set {spec!r} has no 'train' split; it "
                f"has {available}."
            )
        images, labels = read(["train"])
        val, test = validation_fraction, test_fraction
    idx = split_indices(
        len(images),
        split,
        validation_fraction=val,
        test_fraction=test,
        seed=seed,
        owner=_OWNER,
    )
    return images[idx], None if labels is None else labels[idx]


def _tfds_prepared(builder: Any) -> bool:
    is_prepared = getattr(builder, "is_prepared", None)
    if callable(is_prepared):
        return bool(is_prepared())
    return bool(
        tf.io.gfile.exists(os.path.join(str(builder.data_dir), "dataset_info.json"))
    )


def _tfds_keys(builder: Any, spec: str) -> tuple[str, str | None]:
    features = builder.info.features
    keys = list(features.keys()) if hasattr(features, "keys") else []
    image_key = "image" if "image" in keys else None
    if image_key is None:
        image_key = next(
            (k for k in keys if type(features[k]).__name__ == "Image"), None
        )
    if image_key is None:
        raise ValueError(
            f"{_OWNER}: the TFDS data set {spec!r} has no image feature; its "
            f"features are {keys}."
        )
    label_key = "label" if "label" in keys else None
    return image_key, label_key


def _tfds_arrays(
    ds: tf.data.Dataset,
    image_key: str,
    label_key: str | None,
    size: tuple[int, int] | None,
    spec: str,
    split_name: str,
) -> tuple[np.ndarray, np.ndarray | None]:
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    shapes: set[tuple[int, ...]] = set()
    for example in ds.as_numpy_iterator():
        image = _to_uint8_images(
            np.asarray(example[image_key])[None], f"TFDS set {spec!r}"
        )[0]
        if size is not None:
            image = _resize_crop(image[None], size)[0]
        shapes.add(image.shape)
        if len(shapes) > 1:
            raise ValueError(
                f"{_OWNER}: the images of TFDS set {spec!r} (split {split_name!r})"
                f" have different sizes ({sorted(shapes)}); pass "
                "`image_size=(H, W)`."
            )
        xs.append(image)
        if label_key is not None:
            ys.append(np.asarray(example[label_key], np.int64))
    if not xs:
        raise ValueError(
            f"{_OWNER}: the split {split_name!r} of TFDS set {spec!r} is empty."
        )
    labels = np.asarray(ys, np.int64) if label_key is not None else None
    return np.stack(xs), labels
