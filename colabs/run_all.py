"""Re-executes the colabs in full mode and writes their outputs into the files.

    python colabs/run_all.py                 # every notebook, full mode
    python colabs/run_all.py 01_glow.ipynb   # some of them
    python colabs/run_all.py --fast          # smoke run (TFP_FLOWS_FAST=1)

The committed notebooks carry the outputs of a full run, so a reader sees the
plots on the repository page; the test suite re-executes every notebook in its
fast mode (without writing it) and checks that each committed notebook has its
figures. The install cell is skipped (the package is expected to be installed,
e.g. `pip install -e ".[colab]"`); `--install` runs it too.
"""

import argparse
import os
import pathlib
import re
import sys
import tempfile
import time

import nbclient
import nbformat

HERE = pathlib.Path(__file__).resolve().parent

# TensorFlow's C++ start-up lines (absl/glog format, e.g. "I0000 00:00:... port.cc:153]
# oneDNN custom operations are on") that reach a kernel's stderr whatever
# TF_CPP_MIN_LOG_LEVEL says; they are dropped from the saved outputs.
_TF_LOG_LINE = re.compile(
    r"^([IWE]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]"
    r"|WARNING: All log messages before absl"
    r"|To enable the following instructions:)"
)


def drop_tf_log_lines(nb):
    """Removes TensorFlow's C++ log lines from the notebook's stderr outputs."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [
                    line
                    for line in out["text"].splitlines(keepends=True)
                    if not _TF_LOG_LINE.match(line)
                ]
                if not "".join(lines).strip():
                    continue
                out["text"] = "".join(lines)
            kept.append(out)
        cell["outputs"] = kept
    return nb


def main(argv=None):
    """Executes the notebooks named (default: all) and saves them in place."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("notebooks", nargs="*", help="file names in colabs/ (default: all)")
    p.add_argument("--fast", action="store_true", help="TFP_FLOWS_FAST=1 (smoke run)")
    p.add_argument("--install", action="store_true", help="run the install cell")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    a = p.parse_args(argv)
    paths = [HERE / n for n in a.notebooks] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            p.error(f"no such notebook: {path}")
    # The kernel's inline backend puts each figure into the notebook.
    os.environ.pop("MPLBACKEND", None)
    if a.fast:
        os.environ["TFP_FLOWS_FAST"] = "1"
    else:
        os.environ.pop("TFP_FLOWS_FAST", None)
    if not a.install:
        os.environ["TFP_FLOWS_SKIP_INSTALL"] = "1"
    scratch = tempfile.mkdtemp(prefix="tfp_flows_colabs_")
    for path in paths:
        start = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(
            nb,
            timeout=a.timeout,
            kernel_name="python3",
            # Files a notebook writes go to a scratch folder; an install
            # run starts in colabs/ so that it finds this checkout.
            resources={"metadata": {"path": str(HERE) if a.install else scratch}},
        )
        client.execute()
        nbformat.write(drop_tf_log_lines(nb), path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
