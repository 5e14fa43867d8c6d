"""The registry of bijector factories that `test_registry.py` checks.

A new bijector is one more `Entry` in one of the `registry_*.py` modules
listed in `_ENTRY_MODULES` (each defines `ENTRIES`, a list of `Entry`).
"""

import dataclasses
import importlib
from typing import Callable, Optional

_ENTRY_MODULES = [
    "tests.registry_glow",
    "tests.registry_autoregressive",
    "tests.registry_vi",
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
      inverse_is_numerical: the inverse is an iterative solve (looser tolerance).
      input_fn: optional `input_fn(shape, seed) -> array` for restricted domains.
      perturb: std of the noise added to every weight before checking, so that
        zero-initialized (identity) layers are tested away from the identity.
      tolerances: overrides, keyed by dtype name or (check, dtype name).
      slow: mark the entry's checks as slow.
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


def all_entries():
    entries = []
    for module_name in _ENTRY_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue
            raise
        entries.extend(module.ENTRIES)
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate registry names: {dupes}"
    return entries
