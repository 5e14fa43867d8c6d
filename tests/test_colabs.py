"""Executes every notebook in colabs/ in its fast mode (TFP_FLOWS_FAST=1)."""

import pathlib

import pytest

COLABS = sorted((pathlib.Path(__file__).parent.parent / "colabs").glob("*.ipynb"))


# The Glow colab runs in the default suite; the others are heavier and run in
# CI's slow phase (`pytest -m slow`).
_PARAMS = [
    pytest.param(p, id=p.name, marks=[] if p.name.startswith("01_") else [pytest.mark.slow])
    for p in COLABS
]


@pytest.mark.parametrize("path", _PARAMS)
def test_colab_runs_in_fast_mode(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("TFP_FLOWS_FAST", "1")
    monkeypatch.setenv("TFP_FLOWS_SKIP_INSTALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
