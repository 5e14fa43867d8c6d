"""Loaders of tfp_flows.data (issue #15): images, tables, splits, pre-processing."""

import importlib.util
import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import data
from tfp_flows.data import images as images_mod
from tfp_flows.data.preprocess import split_sizes

HAS_TFDS = importlib.util.find_spec("tensorflow_datasets") is not None


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.asarray(array, np.uint8)).numpy())


def _hashes(images):
    return {im.tobytes() for im in images}


# ------------------------------------------------------------------ splits


@pytest.mark.parametrize(
    "n,val,test", [(10, 0.1, 0.1), (1797, 0.1, 0.1), (7, 0.0, 0.3), (520, 0.25, 0.0)]
)
def test_split_disjoint_cover_and_reproducible(n, val, test):
    kw = dict(validation_fraction=val, test_fraction=test, seed=3)
    sizes = split_sizes(n, val, test)
    parts = {}
    for name in ("train", "validation", "test"):
        if sizes[name] == 0:
            with pytest.raises(ValueError, match=f"'{name}' split of {n}"):
                data.split_indices(n, name, **kw)
            parts[name] = np.zeros([0], np.int64)
            continue
        parts[name] = data.split_indices(n, name, **kw)
        assert len(parts[name]) == sizes[name]
        np.testing.assert_array_equal(parts[name], data.split_indices(n, name, **kw))
    joined = np.concatenate(list(parts.values()))
    assert len(joined) == n and len(set(joined.tolist())) == n
    other = data.split_indices(n, "train", **{**kw, "seed": 4})
    assert not np.array_equal(other, parts["train"])
    np.testing.assert_array_equal(data.split_indices(n, "all", **kw), np.arange(n))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(split="training"), "`split` must be one of"),
        (dict(split="TEST"), "`split` must be one of"),
        (dict(validation_fraction=-0.1), "`validation_fraction` must be a number"),
        (dict(test_fraction=1.0), "`test_fraction` must be a number in"),
        (dict(test_fraction="0.1"), "`test_fraction` must be a number"),
        (dict(validation_fraction=True), "`validation_fraction`"),
        (dict(validation_fraction=0.5, test_fraction=0.5), "must be < 1"),
        (dict(seed=-1), "`seed` must be an integer"),
        (dict(seed=1.5), "`seed` must be an integer"),
    ],
)
def test_bad_split_arguments(kwargs, match):
    call = {"split": "train", **kwargs}
    with pytest.raises(ValueError, match=match):
        data.split_indices(100, **call)
    with pytest.raises(ValueError, match="load_images: .*" + match):
        data.load_images("digits", **call)


def test_bad_split_arguments_table(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.random.RandomState(0).normal(size=(20, 2)))
    with pytest.raises(ValueError, match="load_table: argument `split`"):
        data.load_table(path, split="val")
    with pytest.raises(ValueError, match="load_table: argument `test_fraction`"):
        data.load_table(path, test_fraction=2)


# ------------------------------------------------------------------ shipped sets


def test_rgb_patches_split_and_content():
    from sklearn.datasets import load_sample_images

    every, labels = data.load_images("rgb_patches", split="all", with_labels=True)
    assert every.shape == (520, 32, 32, 3) and every.dtype == np.uint8
    assert np.bincount(labels).tolist() == [260, 260]
    china = load_sample_images().images[0]
    np.testing.assert_array_equal(every[0], china[5:37, 0:32])
    np.testing.assert_array_equal(every[21], china[37:69, 32:64])
    parts = {
        s: data.load_images("rgb_patches", split=s)
        for s in ("train", "validation", "test")
    }
    assert [len(p) for p in parts.values()] == [416, 52, 52]
    hashes = [_hashes(p) for p in parts.values()]
    assert len(set.union(*hashes)) == 520  # disjoint and complete
    again = data.load_images("rgb_patches", split="test")
    np.testing.assert_array_equal(again, parts["test"])
    assert data.image_num_levels("rgb_patches") == 256


def test_digits_through_load_images():
    x, y = data.load_images("digits", split="validation", with_labels=True)
    assert x.shape == (180, 8, 8, 1) and x.dtype == np.uint8 and y.shape == (180,)
    assert int(x.max()) == 16 and data.image_num_levels("digits") == 17
    train = data.load_images("digits")
    assert len(train) == 1437
    every = data.load_digits("all")
    np.testing.assert_array_equal(x, every[data.split_indices(1797, "validation")])
    np.testing.assert_array_equal(train, every[data.split_indices(1797, "train")])
    bigger = data.load_images("digits", split="test", image_size=(16, 16))
    assert bigger.shape == (180, 16, 16, 1) and int(bigger.max()) <= 16


# ------------------------------------------------------------------ NumPy files


def test_npy_uint8_and_rank3(tmp_path):
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, size=(20, 4, 6, 3)).astype(np.uint8)
    np.save(tmp_path / "a.npy", x)
    got = data.load_images(tmp_path / "a.npy", split="all")
    np.testing.assert_array_equal(got, x)
    np.save(tmp_path / "g.npy", x[..., 0])
    grey = data.load_images(str(tmp_path / "g.npy"), split="test")
    assert grey.shape == (2, 4, 6, 1)
    idx = data.split_indices(20, "test")
    np.testing.assert_array_equal(grey[..., 0], x[idx, ..., 0])


def test_npy_float_convention(tmp_path):
    rng = np.random.RandomState(1)
    k = rng.randint(0, 256, size=(10, 3, 3, 1))
    k[0, 0, 0, 0], k[1, 0, 0, 0] = 255, 0
    np.save(tmp_path / "unit.npy", (k / 255.0).astype(np.float32))
    np.save(tmp_path / "levels.npy", k.astype(np.float64))
    for name in ("unit.npy", "levels.npy"):
        got = data.load_images(tmp_path / name, split="all")
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, k.astype(np.uint8))
    cases = {
        "binary.npy": (rng.rand(10, 3, 3) > 0.5).astype(np.float32),
        "deq.npy": (k + 0.5) / 2,
        "neg.npy": k / 255.0 - 0.5,
        "big.npy": k * 2.0,
    }
    matches = {
        "binary.npy": "only the values 0 and 1, which is ambiguous",
        "deq.npy": "not all integers",
        "neg.npy": r"got values in -0.5",
        "big.npy": r"got values in 0\.\.510",
    }
    for name, arr in cases.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(ValueError, match=matches[name]) as err:
            data.load_images(tmp_path / name)
        assert name in str(err.value)
    bad = (k / 255.0).astype(np.float32)
    bad[3, 1, 2, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan.npy.*image 3, pixel \(1, 2\)"):
        data.load_images(tmp_path / "nan.npy")


@pytest.mark.parametrize(
    "shape,match",
    [
        ((10, 8), "rank 2"),
        ((2, 3, 4, 4, 3), "rank 5"),
        ((4, 3, 3, 2), r"\[4, 3, 3, 2\]"),
    ],
)
def test_npy_wrong_rank_or_channels(tmp_path, shape, match):
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros(shape, np.uint8))
    with pytest.raises(ValueError, match=match) as err:
        data.load_images(path)
    assert "bad.npy" in str(err.value)


def test_npz_keys_and_labels(tmp_path):
    x = np.arange(10 * 2 * 2, dtype=np.uint8).reshape(10, 2, 2)
    y = np.arange(10) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    got, labels = data.load_images(tmp_path / "d.npz", split="all", with_labels=True)
    assert got.shape == (10, 2, 2, 1)
    np.testing.assert_array_equal(labels, y)
    tr, tr_y = data.load_images(tmp_path / "d.npz", with_labels=True)
    for im, lab in zip(tr, tr_y, strict=True):
        i = int(np.nonzero((x == im[..., 0]).all(axis=(1, 2)))[0][0])
        assert y[i] == lab
    np.savez(tmp_path / "one.npz", anything=x)
    assert data.load_images(tmp_path / "one.npz", split="all").shape == (10, 2, 2, 1)
    with pytest.raises(ValueError, match="has no labels"):
        data.load_images(tmp_path / "one.npz", with_labels=True)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(ValueError, match=r"two.npz.*got the keys \['a', 'b'\]"):
        data.load_images(tmp_path / "two.npz")
    np.savez(tmp_path / "badlab.npz", x=x, y=y[:5])
    with pytest.raises(ValueError, match="badlab.npz"):
        data.load_images(tmp_path / "badlab.npz")


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "c.npy").write_bytes(b"not numpy at all")
    with pytest.raises(ValueError, match=r"cannot read file .*c\.npy"):
        data.load_images(tmp_path / "c.npy")
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 broken zip")
    with pytest.raises(ValueError, match=r"c\.npz"):
        data.load_images(tmp_path / "c.npz")
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        data.load_images(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        data.load_images("mnist")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(ValueError, match=r"suffix '\.txt'"):
        data.load_images(tmp_path / "x.txt")
    with pytest.raises(TypeError, match="argument `source`"):
        data.load_images(3)
    with pytest.raises(ValueError, match="`image_size` must be None or a pair"):
        data.load_images("digits", image_size=(0, 4))
    with pytest.raises(ValueError, match="`image_size`"):
        data.load_images("digits", image_size=16)


# ------------------------------------------------------------------ folders


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("pngs")
    rng = np.random.RandomState(2)
    arrays = rng.randint(0, 256, size=(12, 8, 8, 3)).astype(np.uint8)
    for i, a in enumerate(arrays):
        _png(root / "flat" / f"img_{i:02d}.png", a)
        _png(root / "classes" / ("cat" if i % 2 else "ant") / f"{i:02d}.png", a)
    (root / "flat" / "notes.txt").write_text("ignored")
    return root, arrays


def test_folder_flat_and_classes(png_folder):
    root, arrays = png_folder
    got = data.load_images(root / "flat", split="all")
    np.testing.assert_array_equal(got, arrays)
    x, y = data.load_images(root / "classes", split="all", with_labels=True)
    # Class folders in sorted order: "ant" (even i) then "cat" (odd i).
    np.testing.assert_array_equal(x, np.concatenate([arrays[0::2], arrays[1::2]]))
    np.testing.assert_array_equal(y, [0] * 6 + [1] * 6)
    with pytest.raises(ValueError, match="has no labels"):
        data.load_images(root / "flat", with_labels=True)
    parts = [data.load_images(root / "flat", split=s) for s in ("train", "test")]
    assert [len(p) for p in parts] == [10, 1]
    assert not _hashes(parts[0]) & _hashes(parts[1])


def test_folder_grey_rgb_jpeg_and_alpha(tmp_path):
    grey = np.full((6, 6, 1), 100, np.uint8)
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 7
    _png(tmp_path / "a.png", grey)
    _png(tmp_path / "b.png", rgba)
    jpg = tf.io.encode_jpeg(np.full((6, 6, 3), 50, np.uint8), quality=100)
    (tmp_path / "c.JPG").write_bytes(jpg.numpy())
    x = data.load_images(tmp_path, split="all")
    assert x.shape == (3, 6, 6, 3)
    assert (x[0] == 100).all() and (x[1][..., 0] == 200).all()
    assert (x[1][..., 1:] == 0).all() and np.abs(x[2].astype(int) - 50).max() <= 2


def test_folder_mixed_sizes_named_and_resized(tmp_path):
    for i in range(4):
        _png(tmp_path / f"small_{i}.png", np.zeros((4, 4, 3)))
    _png(tmp_path / "wide.png", np.zeros((4, 8, 3)))
    with pytest.raises(ValueError, match="2 different sizes") as err:
        data.load_images(tmp_path)
    msg = str(err.value)
    assert "4x8: 1 file(s) (wide.png)" in msg and "small_0.png" in msg
    assert "image_size" in msg
    x = data.load_images(tmp_path, split="all", image_size=(2, 2))
    assert x.shape == (5, 2, 2, 3)


def test_resize_center_crop_values():
    wide = np.zeros((1, 4, 8, 1), np.uint8)
    wide[:, :, 2:6] = 255  # the center 4 columns are white
    crop = images_mod._resize_crop(wide, (4, 4))
    assert (crop == 255).all()
    block = np.array([[0, 100], [200, 40]], np.uint8).repeat(2, 0).repeat(2, 1)
    small = images_mod._resize_crop(block[None, ..., None], (2, 2))
    np.testing.assert_array_equal(small[0, ..., 0], [[0, 100], [200, 40]])
    half = images_mod._resize_crop(block[None, ..., None], (1, 1))
    assert int(half[0, 0, 0, 0]) == 85  # area average of 0, 100, 200, 40


def test_folder_corrupt_and_empty(tmp_path):
    _png(tmp_path / "ok.png", np.zeros((4, 4, 3)))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ValueError, match=r"cannot read image file .*broken\.png"):
        data.load_images(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"broken\.png"):
        data.load_images(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("no images")
    with pytest.raises(ValueError, match="holds no image files"):
        data.load_images(empty)
    mixed = tmp_path / "mixed"
    _png(mixed / "top.png", np.zeros((4, 4, 3)))
    _png(mixed / "cls" / "a.png", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="mixes image files"):
        data.load_images(mixed)


# ------------------------------------------------------------------ TFDS


# CI does not install tensorflow_datasets (not a dependency): the path that
# reads a prepared set was checked once by hand with tfds 4.9.10 (issue #15's
# closing note); what CI checks is the message a user without it gets.
@pytest.mark.skipif(HAS_TFDS, reason="tensorflow_datasets is installed here")
def test_tfds_not_installed_message():
    with pytest.raises(ValueError, match="tensorflow_datasets`, which is not ") as e:
        data.load_images("tfds:cifar10")
    assert "never downloads" in str(e.value)
    with pytest.raises(ValueError, match="needs a data set name"):
        data.load_images("tfds:")


# ------------------------------------------------------------------ tables


def _write_csv(path, rows, header=None):
    lines = ([",".join(header)] if header else []) + [
        ",".join(str(v) for v in r) for r in rows
    ]
    path.write_text("\n".join(lines) + "\n")


def test_csv_header_split_and_train_statistics(tmp_path):
    rng = np.random.RandomState(0)
    raw = rng.normal([3.0, -2.0, 10.0], [2.0, 0.5, 4.0], size=(200, 3))
    _write_csv(tmp_path / "t.csv", raw.tolist(), header=["a", "b", "c"])
    _write_csv(tmp_path / "nohead.csv", raw.tolist())
    train, s = data.load_table(tmp_path / "t.csv")
    assert train.shape == (160, 3) and train.dtype == np.float32
    np.testing.assert_allclose(train.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(0), 1.0, atol=1e-5)
    test, s2 = data.load_table(tmp_path / "nohead.csv", split="test")
    np.testing.assert_allclose(s2.mean, s.mean)  # same train statistics
    idx = data.split_indices(200, "test")
    np.testing.assert_allclose(s.invert(test), raw[idx], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s.mean, raw[data.split_indices(200, "train")].mean(0))
    val, none = data.load_table(
        tmp_path / "t.csv", split="validation", standardize=False
    )
    assert none is None
    np.testing.assert_allclose(val, raw[data.split_indices(200, "validation")], 1e-6)
    given = data.Standardizer(mean=np.zeros(3), std=np.full(3, 2.0))
    half, same = data.load_table(tmp_path / "t.csv", split="all", standardizer=given)
    assert same is given
    np.testing.assert_allclose(half, raw / 2.0, rtol=1e-6)


@pytest.mark.parametrize(
    "cell,match",
    [
        ("nan", r"line 4 \(data row 2\), column 1 \('b'\) holds 'nan'"),
        ("-inf", r"line 4 \(data row 2\), column 1 \('b'\) holds '-inf'"),
        ("", r"line 4 \(data row 2\), column 1 \('b'\) holds an empty value"),
        ("red", r"column 1 \('b'\) holds 'red', not a number"),
    ],
)
def test_csv_bad_values_named(tmp_path, cell, match):
    rows = [["1", "2"], ["3", "4"], ["5", cell], ["7", "8"]]
    _write_csv(tmp_path / "bad.csv", rows, header=["a", "b"])
    with pytest.raises(ValueError, match=match) as err:
        data.load_table(tmp_path / "bad.csv")
    assert "bad.csv" in str(err.value)


def test_csv_ragged_and_empty(tmp_path):
    (tmp_path / "r.csv").write_text("1,2\n3\n")
    with pytest.raises(ValueError, match=r"line 2 \(data row 1\) has 1 fields"):
        data.load_table(tmp_path / "r.csv")
    (tmp_path / "e.csv").write_text("\n\n")
    with pytest.raises(ValueError, match="holds no rows"):
        data.load_table(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="header but no data rows"):
        data.load_table(tmp_path / "h.csv")


def test_npy_npz_tables(tmp_path):
    x = np.random.RandomState(0).normal(size=(30, 2))
    np.savez(tmp_path / "t.npz", data=x, other=np.zeros(3))
    got, _ = data.load_table(tmp_path / "t.npz", split="all", standardize=False)
    np.testing.assert_allclose(got, x, rtol=1e-6)
    bad = x.copy()
    bad[7, 1] = np.inf
    np.save(tmp_path / "inf.npy", bad)
    with pytest.raises(ValueError, match=r"inf\.npy.*inf at row 7, column 1"):
        data.load_table(tmp_path / "inf.npy")
    bad[7, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan at row 7, column 1"):
        data.load_table(tmp_path / "nan.npy")
    np.save(tmp_path / "v.npy", x[:, 0])
    with pytest.raises(ValueError, match=r"v\.npy.*shape \[30\].*reshape"):
        data.load_table(tmp_path / "v.npy")
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(ValueError, match=r"got the keys \['a', 'b'\]"):
        data.load_table(tmp_path / "two.npz")
    (tmp_path / "c.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"cannot read file .*c\.npy"):
        data.load_table(tmp_path / "c.npy")
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.load_table(tmp_path / "missing.csv")
    const = np.stack([x[:, 0], np.full(30, 4.0)], axis=1)
    np.save(tmp_path / "const.npy", const)
    with pytest.raises(ValueError, match="column 1 of file .* is constant"):
        data.load_table(tmp_path / "const.npy")
    with pytest.raises(ValueError, match="has 3 columns, but file"):
        data.load_table(
            tmp_path / "t.npz",
            standardizer=data.Standardizer(mean=np.zeros(3), std=np.ones(3)),
        )
    with pytest.raises(ValueError, match="standardize=False"):
        data.load_table(
            tmp_path / "t.npz",
            standardize=False,
            standardizer=data.Standardizer(mean=np.zeros(2), std=np.ones(2)),
        )


def test_standardizer_round_trip_and_log_det(tmp_path):
    rng = np.random.RandomState(3)
    mean, std = np.array([1.5, -3.0]), np.array([0.3, 7.0])
    s = data.Standardizer(mean=mean, std=std)
    again = data.Standardizer.from_json(json.loads(json.dumps(s.to_json())))
    np.testing.assert_array_equal(again.mean, mean)
    np.testing.assert_array_equal(again.std, std)
    path = data.Standardizer.path_for(tmp_path / "maf.keras")
    assert path.name == "maf.standardizer.json"
    s.save(path)
    loaded = data.Standardizer.load(path)
    np.testing.assert_array_equal(loaded.std, std)
    # Change of variables: log N(x; m, s) = log N(z; 0, 1) + sum(-log s).
    x = rng.normal(mean, std, size=(50, 2))
    z = s.apply(x)
    np.testing.assert_allclose(s.invert(z), x, rtol=1e-12)
    log_z = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_x = -0.5 * ((x - mean) / std) ** 2 - np.log(std * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(log_z + s.log_det(), log_x.sum(-1), rtol=1e-10)
    with pytest.raises(ValueError, match=r"must have shape \[\.\.\., 2\]"):
        s.apply(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="`std` must be > 0"):
        data.Standardizer(mean=np.zeros(2), std=np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="from `to_json`"):
        data.Standardizer.from_json({"mean": [0.0]})
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"junk\.json.*not a saved Standardizer"):
        data.Standardizer.load(tmp_path / "junk.json")
    with pytest.raises(FileNotFoundError):
        data.Standardizer.load(tmp_path / "none.json")
    with pytest.raises(ValueError, match="column 1 of `x` is constant"):
        data.Standardizer.fit(np.array([[0.0, 1.0], [2.0, 1.0]]))


# ------------------------------------------------------------------ pre-processing


def test_n_bits_reduction_and_range():
    k = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    x = data.preprocess_images(k, n_bits=5, seed=[1, 2]).numpy()
    assert x.min() >= -0.5 and x.max() < 0.5
    np.testing.assert_array_equal(np.floor((x + 0.5) * 32), k // 8)
    same = data.preprocess_images(k, n_bits=5, seed=[1, 2]).numpy()
    np.testing.assert_array_equal(x, same)
    full = data.preprocess_images(k, seed=0).numpy()
    np.testing.assert_array_equal(np.floor((full + 0.5) * 256), k)
    digits = data.preprocess_images(np.array([0, 16]), num_levels=17, seed=0).numpy()
    np.testing.assert_array_equal(np.floor((digits + 0.5) * 17), [0, 16])


@pytest.mark.parametrize(
    "kwargs,images,match",
    [
        (dict(n_bits=0), [1], "`n_bits` must be an integer >= 1"),
        (dict(n_bits=9), [1], r"`n_bits` must be an integer in 1\.\.8"),
        (dict(n_bits=5, num_levels=17), [1], "reduces 8-bit images"),
        (dict(), [256], r"levels in 0\.\.255"),
        (dict(), [0.5], "non-integer value"),
        (dict(logit_alpha=0.5), [1], r"`logit_alpha` must be a number in \(0, 0.5\)"),
        (dict(logit_alpha=0.0), [1], "`logit_alpha` must be a number"),
        (dict(seed=[1, 2, 3]), [1], "argument `seed`"),
    ],
)
def test_preprocess_bad_input(kwargs, images, match):
    with pytest.raises(ValueError, match="preprocess_images: .*" + match):
        data.preprocess_images(np.array(images), **kwargs)


def test_logit_transform_and_log_det():
    alpha = 0.05
    k = np.random.RandomState(0).randint(0, 256, size=(3, 4, 4, 2))
    x = data.preprocess_images(k, seed=[3, 4])
    y = data.preprocess_images(k, seed=[3, 4], logit_alpha=alpha)
    p = alpha + (1 - 2 * alpha) * (x.numpy().astype(np.float64) + 0.5)
    np.testing.assert_allclose(y.numpy(), np.log(p / (1 - p)), rtol=1e-4, atol=1e-4)
    # log|dy/dx| per image against autodiff of the elementwise transform.
    x64 = tf.cast(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x64)
        p64 = alpha + (1 - 2 * alpha) * (x64 + 0.5)
        y64 = tf.math.log(p64) - tf.math.log1p(-p64)
    grads = tape.gradient(y64, x64)
    expected = tf.reduce_sum(tf.math.log(grads), axis=[1, 2, 3])
    got = data.logit_log_det(y64, alpha)
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10)
    per_dim = data.logit_log_det(y64, alpha, event_ndims=0)
    assert per_dim.shape == y64.shape
    # Finite far in the tails (softplus form).
    assert np.isfinite(
        data.logit_log_det(tf.constant([[80.0, -80.0]]), alpha, event_ndims=1)
    ).all()
    with pytest.raises(ValueError, match="rank >= 3"):
        data.logit_log_det(tf.zeros([4]), alpha)
    with pytest.raises(ValueError, match="floating-point"):
        data.logit_log_det(tf.zeros([1, 2, 2, 1], tf.int32), alpha)


def test_bits_per_dim_of_uniform_model_in_logit_space():
    """A uniform model of 5-bit pixels has exactly 5 bits/dim, via logit space."""
    alpha, n_bits = 0.05, 5
    k = np.random.RandomState(0).randint(0, 256, size=(4, 3, 3, 3))
    y = tf.cast(data.preprocess_images(k, n_bits=n_bits, logit_alpha=alpha), tf.float64)
    # Density of y when x + 0.5 ~ U[0, 1): sigmoid'(y) / (1 - 2 alpha).
    log_p_y = tf.reduce_sum(
        tf.math.log_sigmoid(y) + tf.math.log_sigmoid(-y) - math.log(1 - 2 * alpha),
        axis=[1, 2, 3],
    )
    log_p_x = log_p_y + data.logit_log_det(y, alpha)
    np.testing.assert_allclose(log_p_x.numpy(), 0.0, atol=1e-9)
    bpd = data.bits_per_dim(log_p_x, 27, n_bits=n_bits)
    np.testing.assert_allclose(bpd.numpy(), 5.0, atol=1e-9)
    np.testing.assert_allclose(
        data.bits_per_dim(log_p_x, 27, num_levels=32).numpy(), bpd.numpy()
    )
    # Default stays the digits' 17 levels (existing behaviour).
    np.testing.assert_allclose(float(data.bits_per_dim(0.0, 64)), math.log2(17))
    with pytest.raises(ValueError, match="`num_levels` and `n_bits` disagree"):
        data.bits_per_dim(0.0, 4, num_levels=256, n_bits=5)
    with pytest.raises(ValueError, match="`n_bits` must be an integer"):
        data.bits_per_dim(0.0, 4, n_bits=0)


def test_as_dataset_batches_shuffle_and_context():
    x = np.arange(10, dtype=np.float32)[:, None]
    c = (np.arange(10) * 10).astype(np.float32)[:, None]
    ds = data.as_dataset(x, context=c, batch_size=4, seed=5)
    epoch1 = [(b["x"].numpy(), b["context"].numpy()) for b in ds]
    epoch2 = [b["x"].numpy() for b in ds]
    assert [len(bx) for bx, _ in epoch1] == [4, 4, 2]
    xs = np.concatenate([bx for bx, _ in epoch1])[:, 0]
    assert sorted(xs.tolist()) == list(range(10))
    np.testing.assert_array_equal(
        np.concatenate([bc for _, bc in epoch1]), 10 * xs[:, None]
    )
    again = [
        b["x"].numpy() for b in data.as_dataset(x, context=c, batch_size=4, seed=5)
    ]
    np.testing.assert_array_equal(
        np.concatenate(again), np.concatenate([b for b, _ in epoch1])
    )
    assert not np.array_equal(np.concatenate(epoch2), xs[:, None])  # new order
    plain = list(data.as_dataset(x, batch_size=3, shuffle=False, drop_remainder=True))
    assert [b.shape[0] for b in plain] == [3, 3, 3]
    np.testing.assert_array_equal(plain[0].numpy()[:, 0], [0, 1, 2])
    k = np.full((6, 2, 2, 1), 255, np.uint8)
    mapped = data.as_dataset(
        k, batch_size=6, map_fn=lambda b: data.preprocess_images(b, n_bits=1)
    )
    batch = next(iter(mapped)).numpy()
    assert batch.dtype == np.float32 and (batch >= 0).all() and (batch < 0.5).all()
    with pytest.raises(ValueError, match="`context` must have 10 rows"):
        data.as_dataset(x, context=c[:4], batch_size=2)
    with pytest.raises(ValueError, match="`batch_size` must be an integer"):
        data.as_dataset(x, batch_size=0)


def test_as_dataset_context_dict_trains_a_conditional_flow_model():
    from tfp_flows import flows
    from tfp_flows.internal.keras import keras
    from tfp_flows.layers import FlowModel

    rng = np.random.RandomState(0)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    c = rng.normal(size=(32, 1)).astype(np.float32)
    flow = flows.maf(2, num_layers=1, hidden_units=[4], context_size=1)
    model = FlowModel(flow)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = data.as_dataset(x, context=c, batch_size=16, seed=0)
    history = model.fit(ds, epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"][0])
