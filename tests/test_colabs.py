"""Executes every notebook in colabs/ in its fast mode (TFP_FLOWS_FAST=1)."""

import pathlib

import pytest

COLABS = sorted((pathlib.Path(__file__).parent.parent / "colabs").glob("*.ipynb"))


# The Glow colab runs in the default suite; the others are heavier and run in
# CI's slow phase (`pytest -m slow`).
_PARAMS = [
    pytest.param(
        p, id=p.name, marks=[] if p.name.startswith("01_") else [pytest.mark.slow]
    )
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
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
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


def _code_cells(path):
    import json

    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", COLABS, ids=[p.name for p in COLABS])
def test_committed_colab_carries_the_outputs_of_a_run(path):
    """`python colabs/run_all.py` wrote every cell's outputs, figures included."""
    cells = _code_cells(path)
    unrun = [i for i, c in enumerate(cells) if c.get("execution_count") is None]
    assert not unrun, f"{path.name}: code cells {unrun} have no outputs of a run"
    errors = [
        o for c in cells for o in c.get("outputs", []) if o["output_type"] == "error"
    ]
    assert not errors, f"{path.name}: committed with an error output"
    figures = [
        o
        for c in cells
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert figures, f"{path.name}: no figure in the committed outputs"


@pytest.mark.parametrize("path", COLABS, ids=[p.name for p in COLABS])
def test_colab_imports_only_public_modules(path):
    import re

    private = re.compile(
        r"^\s*(from|import)\s+tfp_flows(\.\w+)*\.(internal|_\w+)\b", re.M
    )
    for cell in _code_cells(path):
        source = "".join(cell["source"])
        assert not private.search(source), f"{path.name}: private import in\n{source}"


@pytest.mark.parametrize("path", COLABS, ids=[p.name for p in COLABS])
def test_colab_install_cell_fails_loudly_and_prefers_the_checkout(path):
    source = "".join(_code_cells(path)[0]["source"])
    assert "check=True" in source and "check=False" not in source
    assert '"-e"' in source and "git+" not in source
