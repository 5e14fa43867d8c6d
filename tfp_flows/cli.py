"""The `tfp-flows` command (also `python -m tfp_flows`).

Subcommands:

- `tfp-flows train` (the default: `tfp-flows` alone trains a small
  multi-scale Glow on scikit-learn's shipped 8x8 digits, prints test
  bits/dim, saves the model and writes PNGs of samples and of the training
  curve into `tfp_flows_out/`); `--data` takes a name or a path (a folder of
  PNG/JPEG files, a `.npy`/`.npz` of images, a `.csv`/`.npy` table for
  `--model maf/iaf`); `--resume` continues an interrupted run.
- `tfp-flows sample MODEL.keras -n 64 --temperature 0.7 --out grid.png`
  (or `--out samples.npy`).
- `tfp-flows eval MODEL.keras --data ... --split test`: bits/dim for
  images, nats for tables.

Parsing imports only the standard library, so `--help` and argument errors
return at once; TensorFlow is imported only to run a subcommand, with its
C++ start-up log lines silenced unless `--verbose`. Bad options and input
files end the command with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import pathlib
import re
import sys
import tempfile
from collections.abc import Sequence
from typing import Any
from typing import NoReturn

from tfp_flows.jobs.options import EvalOptions
from tfp_flows.jobs.options import JobOptions
from tfp_flows.jobs.options import SampleOptions
from tfp_flows.jobs.options import UsageError
from tfp_flows.jobs.options import env_fast

__all__ = ["JOBS", "SUBCOMMANDS", "build_parser", "main", "parse_args"]

# --model choice -> module in tfp_flows.jobs with `run(JobOptions) -> dict`.
JOBS = {
    "glow": "tfp_flows.jobs.glow",
    "realnvp": "tfp_flows.jobs.glow",
    "maf": "tfp_flows.jobs.maf",
    "iaf": "tfp_flows.jobs.maf",
    "pixelrnn": "tfp_flows.jobs.pixelrnn",
    "vae": "tfp_flows.jobs.vae",
}
SUBCOMMANDS = ("train", "sample", "eval")

# Which model-size options each job reads (others are an error).
_SIZE_OPTIONS = {
    "levels": ("glow", "realnvp"),
    "steps": ("glow", "realnvp"),
    "width": ("glow", "realnvp"),
    "layers": ("maf", "iaf", "pixelrnn"),
    "hidden": ("maf", "iaf", "pixelrnn"),
    "n_bits": ("glow", "realnvp", "maf", "iaf"),
    "image_size": ("glow", "realnvp", "maf", "iaf", "pixelrnn"),
    "conditional": ("glow", "realnvp"),
    "dtype_policy": ("glow", "realnvp"),
    "keep_hidden": ("glow",),
}
# `flows.glow`'s STACKED_FROM_STEPS, without importing TensorFlow here (a
# test checks that they agree).
_STACKED_FROM_STEPS = 8
_DATA_NAMES = ("digits", "rgb_patches")
_TABLE_SUFFIXES = (".csv",)
_LOG_ENV = "TF_CPP_MIN_LOG_LEVEL"


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit code 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        """Prints `PROG: error: MESSAGE (see PROG --help)` and exits with 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be in 0..2**31-1; got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0; got {text}")
    return value


def _fraction(text: str) -> float:
    value = _non_negative_float(text)
    if value >= 0.9:
        raise argparse.ArgumentTypeError(f"must be in [0, 0.9); got {text}")
    return value


def _image_size(text: str) -> tuple[int, int]:
    parts = re.split(r"[x,]", text.strip().lower())
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HxW with positive integers (e.g. 32 or 32x48); "
            f"got {text!r}"
        )
    return values[0], values[1]


def _n_bits(text: str) -> int:
    value = _positive_int(text)
    if value > 8:
        raise argparse.ArgumentTypeError(f"must be in 1..8; got {value}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"expected positive integers separated by commas (e.g. 256,256); "
            f"got {text!r}"
        )
    return values


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's start-up log lines, and tracebacks on errors",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `tfp-flows` with its three subcommands."""
    parser = _Parser(
        prog="tfp-flows",
        description="Train flows on shipped data or your own files, sample from "
        "and evaluate the saved models. Without a subcommand: `train` (the "
        "digits Glow).",
        epilog="`tfp-flows SUBCOMMAND --help` lists each subcommand's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{train,sample,eval}")

    t = sub.add_parser(
        "train",
        help="train a model (the default subcommand)",
        description="Train a flow; print test metrics; save the model (.keras), "
        "a PNG grid of samples, a PNG of the training curve, history.csv and "
        "metrics.json into --output-dir.",
    )
    t.add_argument("--model", default="glow", choices=sorted(JOBS))
    t.add_argument(
        "--data",
        default="digits",
        help="'digits', 'rgb_patches', 'tfds:NAME' (prepared locally), a folder "
        "of PNG/JPEG files, a .npy/.npz of images, or (maf, iaf) a .csv/.npy/.npz "
        "table (default: digits)",
    )
    t.add_argument("--image-size", type=_image_size, metavar="HxW")
    t.add_argument("--n-bits", type=_n_bits, help="reduce 8-bit images (Glow: 5)")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=_positive_float, help="Adam learning rate")
    t.add_argument(
        "--validation-split",
        type=_fraction,
        default=0.1,
        help="fraction held out for validation and early stopping (default 0.1)",
    )
    t.add_argument("--patience", type=_positive_int, help="early stopping patience")
    t.add_argument("--levels", type=_positive_int, help="glow/realnvp levels")
    t.add_argument(
        "--steps", type=_positive_int, help="glow steps (realnvp couplings) per level"
    )
    t.add_argument(
        "--width", type=_positive_int, help="glow/realnvp coupling-network channels"
    )
    t.add_argument(
        "--layers", type=_positive_int, help="maf/iaf flow layers, pixelrnn LSTM layers"
    )
    t.add_argument(
        "--hidden",
        type=_hidden,
        metavar="N[,N...]",
        help="maf/iaf MADE hidden sizes, pixelrnn LSTM units",
    )
    t.add_argument(
        "--conditional",
        action="store_true",
        help="glow/realnvp conditioned on the data's class labels",
    )
    t.add_argument(
        "--dtype-policy",
        choices=("mixed_bfloat16", "mixed_float16"),
        help="glow/realnvp coupling networks in 16 bits over float32 weights "
        "(mixed_bfloat16 on CPUs with AVX512-BF16, mixed_float16 on GPUs)",
    )
    t.add_argument(
        "--keep-hidden",
        action="store_true",
        help="glow: reversible gradients that keep each step's last hidden "
        "activation (faster step, memory growing with --steps; needs --steps 8+)",
    )
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--output-dir", default="tfp_flows_out")
    t.add_argument(
        "--tensorboard", action="store_true", help="TensorBoard logs with sample grids"
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --output-dir (its saved options)",
    )
    t.add_argument(
        "--fast", action="store_true", help="tiny smoke run (also TFP_FLOWS_FAST=1)"
    )
    t.add_argument("--no-progress", action="store_true")
    _add_common(t)

    s = sub.add_parser(
        "sample",
        help="draw samples from a saved model",
        description="Draw samples from a .keras file written by `tfp-flows "
        "train`: a PNG grid (--out x.png) or the samples in data units "
        "(--out x.npy).",
    )
    s.add_argument("model_path", metavar="MODEL.keras")
    s.add_argument("-n", type=_positive_int, default=64, help="number of samples")
    s.add_argument("--temperature", type=_non_negative_float, default=1.0)
    s.add_argument("--out", default="samples.png", help=".png or .npy")
    s.add_argument("--seed", type=_seed, default=0)
    s.add_argument("--ncols", type=_positive_int, default=8)
    _add_common(s)

    e = sub.add_parser(
        "eval",
        help="evaluate a saved model on a data split",
        description="Mean negative log-likelihood of a .keras file written by "
        "`tfp-flows train` on a split: bits/dim for images, nats for tables.",
    )
    e.add_argument("model_path", metavar="MODEL.keras")
    e.add_argument("--data", help="default: the data the model was trained on")
    e.add_argument(
        "--split", default="test", choices=["train", "validation", "test", "all"]
    )
    e.add_argument("--batch-size", type=_positive_int, default=256)
    e.add_argument("--seed", type=_seed, default=0)
    _add_common(e)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)  # pragma: no cover


def _with_default_command(argv: list[str]) -> list[str]:
    """Inserts `train` unless the first argument names a subcommand or help."""
    if argv and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help")):
        return argv
    return ["train", *argv]


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "." in pathlib.Path(text).name or os.path.exists(text)


def _check_data(parser: argparse.ArgumentParser, data: str, model: str) -> None:
    """Fails fast (before TensorFlow is imported) on a data source that cannot be."""
    if data in _DATA_NAMES or data.startswith("tfds:"):
        if model == "vae" and data != "digits":
            parser.error(
                "--model vae trains on the binarized digits only (--data digits)"
            )
        return
    if not os.path.exists(data):
        kind = "file or folder" if _looks_like_path(data) else "data set name"
        parser.error(
            f"--data {data!r}: no such {kind} (names: {', '.join(_DATA_NAMES)}, "
            "tfds:NAME; or the path of a folder, .npy, .npz or .csv file)"
        )
    if model == "vae":
        parser.error("--model vae trains on the binarized digits only (--data digits)")
    if data.lower().endswith(_TABLE_SUFFIXES) and model not in ("maf", "iaf"):
        parser.error(
            f"--data {data!r} is a table; --model {model} needs images (tables: "
            "--model maf or iaf)"
        )


def _train_options(
    parser: argparse.ArgumentParser, a: argparse.Namespace
) -> JobOptions:
    train_parser = _subparser(parser, "train")
    given = {k for k in _SIZE_OPTIONS if getattr(a, k) not in (None, False)}
    for key in sorted(given):
        if a.model not in _SIZE_OPTIONS[key]:
            flag = "--" + key.replace("_", "-")
            train_parser.error(
                f"{flag} applies to --model {', '.join(_SIZE_OPTIONS[key])}; "
                f"got --model {a.model}"
            )
    if a.keep_hidden and (a.steps is None or a.steps < _STACKED_FROM_STEPS):
        train_parser.error(
            f"--keep-hidden needs stacked steps: --steps {_STACKED_FROM_STEPS} "
            f"or more; got --steps {a.steps}"
        )
    if a.n_bits is not None and a.data == "digits":
        train_parser.error("--n-bits reduces 8-bit images; the digits have 17 levels")
    if a.patience is not None and a.validation_split == 0:
        train_parser.error(
            "--patience needs a validation split (--validation-split > 0)"
        )
    if a.tensorboard and importlib.util.find_spec("tensorboard") is None:
        train_parser.error(
            "--tensorboard needs the tensorboard package "
            "(pip install 'tfp_flows[tensorboard]')"
        )
    if not a.resume:
        _check_data(train_parser, a.data, a.model)
    return JobOptions(
        model=a.model,
        data=a.data,
        epochs=a.epochs,
        batch_size=a.batch_size,
        output_dir=a.output_dir,
        seed=a.seed,
        fast=a.fast or env_fast(),
        progress=not a.no_progress,
        image_size=a.image_size,
        n_bits=a.n_bits,
        lr=a.lr,
        validation_split=a.validation_split,
        levels=a.levels,
        steps=a.steps,
        width=a.width,
        layers=a.layers,
        hidden=a.hidden,
        patience=a.patience,
        tensorboard=a.tensorboard,
        conditional=a.conditional,
        dtype_policy=a.dtype_policy,
        keep_hidden=a.keep_hidden,
        resume=a.resume,
        verbose=a.verbose,
    )


def parse_args(
    argv: Sequence[str] | None = None,
) -> JobOptions | SampleOptions | EvalOptions:
    """Parses a command line into the options of its subcommand.

    Args:
      argv: the arguments (without the program name); None: `sys.argv[1:]`.

    Returns:
      `JobOptions` (train, also without a subcommand), `SampleOptions` or
      `EvalOptions`.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    a = parser.parse_args(_with_default_command(args))
    subparsers = {name: _subparser(parser, name) for name in SUBCOMMANDS}
    if a.command == "train":
        return _train_options(parser, a)
    if a.command == "sample":
        _check_model_path(subparsers["sample"], a.model_path)
        out = a.out.lower()
        if not out.endswith((".png", ".npy")):
            subparsers["sample"].error(f"--out must end in .png or .npy; got {a.out!r}")
        return SampleOptions(
            model_path=a.model_path,
            n=a.n,
            temperature=a.temperature,
            out=a.out,
            seed=a.seed,
            ncols=a.ncols,
            verbose=a.verbose,
        )
    _check_model_path(subparsers["eval"], a.model_path)
    if (
        a.data is not None
        and a.data not in _DATA_NAMES
        and not a.data.startswith("tfds:")
    ):
        if not os.path.exists(a.data):
            subparsers["eval"].error(f"--data {a.data!r}: no such file or folder")
    return EvalOptions(
        model_path=a.model_path,
        data=a.data,
        split=a.split,
        batch_size=a.batch_size,
        seed=a.seed,
        verbose=a.verbose,
    )


def _check_model_path(parser: argparse.ArgumentParser, path: str) -> None:
    if not os.path.isfile(path):
        parser.error(f"MODEL.keras {path!r}: no such file")
    if not path.endswith(".keras"):
        parser.error(f"MODEL.keras must be a .keras file; got {path!r}")


# -- TensorFlow's start-up lines ------------------------------------------------

# absl/TF C++ log lines ("I0000 00:00:1796.. 5845 port.cc:153] ..."), absl's
# banner before its first line, and the CPU feature guard's second line.
_TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions:)"
)


def _drop_tf_log_lines(text: str) -> str:
    """`text` without TensorFlow's C++ log lines (each kept line ends in a newline)."""
    kept = [ln for ln in text.splitlines() if not _TF_LOG_LINE.match(ln)]
    return "".join(ln + "\n" for ln in kept)


def _import_with_package(module: str) -> Any:
    """Every subpackage (registering Keras classes and flow builders), then `module`."""
    importlib.import_module("tfp_flows")._import_all()
    return importlib.import_module(module)


def _import_quietly(module: str) -> Any:
    """Imports `module`, dropping the C++ log lines TensorFlow prints on load.

    The lines are written to file descriptor 2 by shared libraries while they
    load, before `TF_CPP_MIN_LOG_LEVEL` is read, so they are captured at the
    descriptor and filtered: every other line (Python warnings, errors) is
    written back to stderr.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no descriptor 2 (embedded interpreter)
        return _import_with_package(module)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            loaded = _import_with_package(module)
            # Device discovery logs too (e.g. `failed call to cuInit` on a
            # machine without a GPU): run it now, inside the capture.
            importlib.import_module("tensorflow").config.list_physical_devices()
            return loaded
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = _drop_tf_log_lines(tmp.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def _load(module: str, verbose: bool) -> Any:
    if verbose or "tensorflow" in sys.modules:
        return _import_with_package(module)
    os.environ.setdefault(_LOG_ENV, "2")
    return _import_quietly(module)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code.

    Args:
      argv: the arguments (without the program name); None: `sys.argv[1:]`.

    Returns:
      0 on success (bad options and input files exit with 2 instead).
    """
    opts = parse_args(argv)
    try:
        if isinstance(opts, JobOptions):
            if opts.resume:
                opts = opts.resumed()
            module = _load(JOBS[opts.model], opts.verbose)
            module.run(opts)
        elif isinstance(opts, SampleOptions):
            _load("tfp_flows.jobs.inference", opts.verbose).sample(opts)
        else:
            _load("tfp_flows.jobs.inference", opts.verbose).evaluate(opts)
    except (UsageError, ValueError, FileNotFoundError) as err:
        if opts.verbose:
            raise
        message = _one_line(err)
        if "`image_size" in message:
            message += " (the command's option: --image-size HxW)"
        sys.stderr.write(f"tfp-flows: error: {message}\n")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
