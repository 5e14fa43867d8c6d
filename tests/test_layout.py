"""The package layout: each folder holds what its name says (docs/design.md).

* `nn/` and `distributions/` never import `layers/` (a network or a
  distribution does not depend on the Keras wrappers built on it);
* the subpackages import each other without cycles;
* names that moved are still importable from where they used to be, and the
  Keras registration strings (what `.keras` files store) never change.
"""

import ast
import io
import json
import pathlib
import re
import zipfile

import numpy as np
import pytest

import tfp_flows
from tfp_flows import flows
from tfp_flows import layers
from tfp_flows import nn
from tfp_flows import saving
from tfp_flows import vae
from tfp_flows.internal.keras import keras

PACKAGE = pathlib.Path(tfp_flows.__file__).parent


def _modules(subpackage=None):
    root = PACKAGE if subpackage is None else PACKAGE / subpackage
    return sorted(root.rglob("*.py"))


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _subpackage(module_name):
    """`tfp_flows.X.y` -> `X` (None for the root package and its own modules)."""
    parts = module_name.split(".")
    if parts[0] != "tfp_flows" or len(parts) < 2:
        return None
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return None


def _imported_modules(path, *, skip_lazy_getattr=False):
    """Every `tfp_flows` module that `path` imports (anywhere in its code).

    `from tfp_flows import a, b` counts as importing `tfp_flows.a` and
    `tfp_flows.b`. With `skip_lazy_getattr`, imports inside a module-level
    `__getattr__` (PEP 562 lazy re-exports, run only on first use of a moved
    name) are left out.
    """
    tree = ast.parse(path.read_text(), str(path))
    skipped = set()
    if skip_lazy_getattr:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                skipped.update(id(n) for n in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tfp_flows"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tfp_flows":
                found.update(f"tfp_flows.{a.name}" for a in node.names)
            elif node.module.startswith("tfp_flows."):
                found.add(node.module)
    return found


# Code and doctests alike: `>>> from tfp_flows.layers import PixelRNN` in a
# docstring of `distributions/` would teach the dependency it must not have.
_IMPORTS_LAYERS = re.compile(
    r"(from|import)\s+tfp_flows\.layers\b|from\s+tfp_flows\s+import\s+[^\n]*\blayers\b"
)


@pytest.mark.parametrize("subpackage", ["nn", "distributions"])
def test_networks_and_distributions_do_not_import_layers(subpackage):
    offenders = []
    for path in _modules(subpackage):
        imported = _imported_modules(path)
        if any(_subpackage(m) == "layers" for m in imported):
            offenders.append(f"{path.relative_to(PACKAGE)} (code)")
        elif _IMPORTS_LAYERS.search(path.read_text()):
            offenders.append(f"{path.relative_to(PACKAGE)} (docstring)")
    assert not offenders, f"{subpackage}/ must not import tfp_flows.layers: {offenders}"


def _is_alias_module(path):
    """A leaf module that only re-exports names kept for old imports.

    Its body is a docstring, imports and `__all__`; nothing in the package
    imports it (a subpackage `__init__` is never one: it runs whenever any
    module of its folder is imported), so it adds no dependency to its folder.
    """
    if path.name == "__init__.py":
        return False
    tree = ast.parse(path.read_text(), str(path))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Assign) and [
            getattr(t, "id", None) for t in node.targets
        ] == ["__all__"]:
            continue
        return False
    return True


def test_alias_modules_are_imported_by_nothing_in_the_package():
    aliases = {_module_name(p) for p in _modules() if _is_alias_module(p)}
    for path in _modules():
        used = _imported_modules(path) & aliases
        assert not used, f"{path.relative_to(PACKAGE)} imports alias module(s) {used}"


def _subpackage_graph():
    graph = {}
    for path in _modules():
        src = _subpackage(_module_name(path))
        if src is None:  # tfp_flows/__init__.py, cli.py: they sit above all
            continue
        if _is_alias_module(path):
            continue
        for target in _imported_modules(path, skip_lazy_getattr=True):
            dst = _subpackage(target)
            if dst is not None and dst != src:
                graph.setdefault(src, set()).add(dst)
    return graph


def _find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_subpackages_import_each_other_without_cycles():
    graph = _subpackage_graph()
    assert _find_cycle(graph) is None, (
        f"import cycle between subpackages: {' -> '.join(_find_cycle(graph))}"
    )
    # The rule of each folder (docs/design.md) as edges that must not exist.
    forbidden = {
        "nn": {"bijectors", "flows", "distributions", "layers", "saving", "vae"},
        "bijectors": {"flows", "distributions", "layers", "saving", "vae"},
        "flows": {"distributions", "layers", "saving", "vae"},
        "distributions": {"flows", "layers", "saving", "vae"},
        "internal": set(graph) - {"internal"},
    }
    bad = {
        src: sorted(graph.get(src, set()) & dsts)
        for src, dsts in forbidden.items()
        if graph.get(src, set()) & dsts
    }
    assert not bad, f"imports against the layout rule: {bad}"


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_moved_names_are_still_importable_from_layers():
    from tfp_flows.layers import DiagonalBiLSTM  # noqa: F401
    from tfp_flows.layers import DiagonalGaussianPosterior  # noqa: F401
    from tfp_flows.layers import FlowPosterior  # noqa: F401
    from tfp_flows.layers import IAFPosterior  # noqa: F401
    from tfp_flows.layers import MaskedConv2D  # noqa: F401
    from tfp_flows.layers import PixelRNN  # noqa: F401
    from tfp_flows.layers import PlanarPosterior  # noqa: F401
    from tfp_flows.layers import RowLSTM  # noqa: F401
    from tfp_flows.layers import export_saved_model  # noqa: F401
    from tfp_flows.layers import load_flow_model  # noqa: F401

    assert layers.PixelRNN is nn.PixelRNN
    assert layers.RowLSTM is nn.RowLSTM
    assert layers.DiagonalBiLSTM is nn.DiagonalBiLSTM
    assert layers.MaskedConv2D is nn.MaskedConv2D
    for name in ("DiagonalGaussianPosterior", "FlowPosterior", "IAFPosterior"):
        assert getattr(layers, name) is getattr(vae, name)
    assert layers.PlanarPosterior is vae.PlanarPosterior
    assert layers.export_saved_model is saving.export_saved_model
    assert layers.load_flow_model is saving.load_flow_model
    assert set(layers.__all__) <= set(dir(layers))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        layers.nope  # noqa: B018


def test_initialize_act_norms_is_one_function_for_every_flow():
    from tfp_flows.flows.act_norm_init import initialize_act_norms

    assert flows.initialize_act_norms is initialize_act_norms


# `.keras` files store these strings; renaming one breaks every saved file.
@pytest.mark.parametrize(
    "obj, registered",
    [
        (layers.FlowModel, "tfp_flows>FlowModel"),
        (layers.FlowLogProb, "tfp_flows>FlowLogProb"),
        (layers.FlowSample, "tfp_flows>FlowSample"),
        (layers.negative_log_likelihood, "tfp_flows>negative_log_likelihood"),
        (nn.PixelRNN, "tfp_flows>PixelRNN"),
        (nn.RowLSTM, "tfp_flows>RowLSTM"),
        (nn.DiagonalBiLSTM, "tfp_flows>DiagonalBiLSTM"),
        (nn.MaskedConv2D, "tfp_flows>MaskedConv2D"),
        (nn.MADE, "tfp_flows>MADE"),
        (nn.GatedPixelCNN, "tfp_flows>GatedPixelCNN"),
        (nn.CausalConv1D, "tfp_flows>CausalConv1D"),
        (nn.WaveNetResidualBlock, "tfp_flows>WaveNetResidualBlock"),
        (nn.WaveNet, "tfp_flows>WaveNet"),
        (vae.HouseholderPosterior, "tfp_flows>HouseholderPosterior"),
        (vae.DiagonalGaussianPosterior, "tfp_flows>DiagonalGaussianPosterior"),
        (vae.IAFPosterior, "tfp_flows>IAFPosterior"),
        (vae.PlanarPosterior, "tfp_flows>PlanarPosterior"),
        (vae.VAE, "tfp_flows>VAE"),
    ],
)
def test_keras_registered_names_are_stable(obj, registered):
    assert keras.saving.get_registered_name(obj) == registered
    assert keras.saving.get_registered_object(registered) is obj


def _with_module_paths(path, old_module):
    """Rewrites a `.keras` file as if saved before the move (module paths)."""
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    config = json.loads(entries["config.json"])

    def rewrite(node):
        if isinstance(node, dict):
            if node.get("registered_name", "") in (
                "tfp_flows>FlowModel",
                "tfp_flows>FlowLogProb",
            ):
                node["module"] = old_module
            for v in node.values():
                rewrite(v)
        elif isinstance(node, list):
            for v in node:
                rewrite(v)

    rewrite(config)
    entries["config.json"] = json.dumps(config).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    path.write_bytes(buffer.getvalue())


def test_keras_files_saved_before_the_move_still_load(tmp_path):
    # Files written before the split name `tfp_flows.layers.flow_layers` as
    # the module of FlowModel/FlowLogProb; Keras resolves them by their
    # registered name, which did not change.
    flow = flows.maf(2, num_layers=2, hidden_units=[8], seed=3)
    model = layers.FlowModel(flow)
    x = np.random.RandomState(0).normal(size=(4, 2)).astype("float32")
    path = tmp_path / "old.keras"
    model.save(path)
    _with_module_paths(path, "tfp_flows.layers.flow_layers")
    assert b"tfp_flows.layers.flow_layers" in zipfile.ZipFile(path).read("config.json")
    loaded = saving.load_flow_model(path, expected_builder="maf")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)
