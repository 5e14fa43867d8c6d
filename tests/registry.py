"""The registry of bijector factories that `test_registry.py` checks.

A new bijector is one more `Entry` in one of the `registry_*.py` modules
listed in `_ENTRY_MODULES` (each defines `ENTRIES`, a list of `Entry`).
A module that fails to import fails the suite (an error at collection of
`test_registry.py`), and `test_registry.py` checks that every
`tests/registry_*.py` file is listed: no entry can vanish silently.
"""

import dataclasses
import importlib
from typing import Callable
from typing import Optional

_ENTRY_MODULES = [
    "tests.registry_glow",
    "tests.registry_autoregressive",
    "tests.registry_vi",
    "tests.registry_householder",
    "tests.registry_conditional",
    "tests.registry_ffjord",
]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One bijector configuration under test.

    Attributes:
      name: test id.
      factory: `factory(dtype) -> tfb.Bijector`, a fresh bijector whose weights
        have that dtype.
      event_shape: event shape of the forward input (keep it tiny).
      num_weights: number of trainable variables the bijector must list.
      has_inverse: whether `inverse` exists.
      inverse_is_numerical: the inverse is an iterative solve: the entry also
        goes through `bijector_checks.check_numerical_inverse_converges`
        (round trips far out in the tails, where an iteration can stop early).
      input_fn: optional `input_fn(shape, seed) -> array` for restricted domains.
      perturb: std of the noise added to every weight before checking, so that
        zero-initialized (identity) layers are tested away from the identity.
      tolerances: overrides, keyed by dtype name or (check, dtype name).
      slow: mark the entry's checks as slow.
      far_out_scales: input scales of the far-out round trip (numerical
        inverses); narrower only where the model itself, not the iteration,
        overflows further out (said at the entry).
      context_shape: for a conditional bijector (`with_context`), the
        context's event shape: every check binds a context of it
        (`check_bijector(..., context_shape=...)`).
    """

    name: str
    factory: Callable
    event_shape: tuple
    num_weights: int
    has_inverse: bool = True
    inverse_is_numerical: bool = False
    input_fn: Optional[Callable] = None
    perturb: float = 0.1
    tolerances: dict = dataclasses.field(default_factory=dict)
    slow: bool = False
    far_out_scales: tuple = (1.0, 10.0, 100.0, 1000.0)
    context_shape: Optional[tuple] = None


def all_entries():
    entries = []
    for module_name in _ENTRY_MODULES:
        # No try/except: a module that does not import is an error, not an
        # empty list of entries.
        entries.extend(importlib.import_module(module_name).ENTRIES)
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate registry names: {dupes}"
    return entries
