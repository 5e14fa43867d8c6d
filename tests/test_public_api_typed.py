"""Every public function and method carries type hints (issue #13, STYLE.md 4).

The walk covers the names in each public subpackage's `__all__`: module-level
functions, and for classes every public method, `classmethod`,
`staticmethod` and property (getter and setter) defined in a `tfp_flows`
class of their MRO, plus `__init__`; what Keras or TFP define (or copy into a
subclass, as TFP's metaclasses do) is theirs to annotate. Each parameter but
`self`/`cls` needs an annotation (`*args` / `**kwargs` too: `Any` is fine)
and each callable a return annotation (`__init__` and setters excepted).
`python -m mypy` (configured in `pyproject.toml`) checks that the hints agree
with the code; this test checks that they exist.
"""

import importlib
import inspect

import pytest

SUBPACKAGES = (
    "bijectors",
    "data",
    "distributions",
    "flows",
    "layers",
    "nn",
    "vae",
    "saving",
    "testing",
)


def _is_ours(obj):
    return getattr(obj, "__module__", None) is not None and (
        obj.__module__ == "tfp_flows" or obj.__module__.startswith("tfp_flows.")
    )


def _missing_in_callable(qualname, fn, *, needs_return=True):
    """The unannotated parameters and return of `fn`, as readable strings."""
    sig = inspect.signature(inspect.unwrap(fn))
    missing = []
    for name, param in sig.parameters.items():
        if name in ("self", "cls"):
            continue
        if param.annotation is inspect.Parameter.empty:
            missing.append(f"{qualname}: parameter {name!r}")
    if needs_return and sig.return_annotation is inspect.Signature.empty:
        missing.append(f"{qualname}: return")
    return missing


def _class_members(cls, is_ours=_is_ours):
    """`(qualname, function, needs_return)` of every public member to check."""
    seen = set()
    for klass in cls.__mro__:
        if not is_ours(klass):
            continue
        for name, attr in vars(klass).items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            where = f"{klass.__module__}.{klass.__qualname__}.{name}"
            if isinstance(attr, property):
                parts = [("getter", attr.fget, True), ("setter", attr.fset, False)]
                for part, accessor, needs_return in parts:
                    if accessor is not None and is_ours(accessor):
                        yield f"{where} ({part})", accessor, needs_return
            elif isinstance(attr, (classmethod, staticmethod)):
                if is_ours(attr.__func__):
                    yield where, attr.__func__, True
            elif inspect.isfunction(attr) and is_ours(attr):
                # (A function of another module here was copied in by a
                # metaclass, e.g. TFP's `Distribution.kl_divergence`.)
                yield where, attr, name != "__init__"


def _public_callables():
    """`(qualname, function, needs_return)` of the whole public API."""
    seen = set()
    for sub in SUBPACKAGES:
        module = importlib.import_module(f"tfp_flows.{sub}")
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in seen or not _is_ours(obj):
                continue
            seen.add(id(obj))
            if inspect.isclass(obj):
                yield from _class_members(obj)
            elif callable(obj):
                yield f"{obj.__module__}.{obj.__qualname__}", obj, True


def _public_api_missing():
    missing = set()
    for qualname, fn, needs_return in _public_callables():
        missing.update(_missing_in_callable(qualname, fn, needs_return=needs_return))
    return sorted(missing)


def test_every_public_function_and_method_is_annotated():
    missing = _public_api_missing()
    if missing:
        pytest.fail(
            f"{len(missing)} public parameters/returns without a type hint:\n"
            + "\n".join(missing)
        )


def test_the_walk_reaches_the_public_api():
    # An empty or broken walk would pass the test above vacuously.
    names = {qualname for qualname, _, _ in _public_callables()}
    for expected in (
        "tfp_flows.flows.glow.glow",
        "tfp_flows.flows.autoregressive.maf",  # through register_builder
        "tfp_flows.nn.made.MADE.__init__",
        "tfp_flows.nn.made.MADE.call",
        "tfp_flows.nn.made.MADE.get_config",
        "tfp_flows.bijectors.base.FusedBijector.track_keras_layer",
        "tfp_flows.bijectors.act_norm.ActNorm.shift (getter)",
        "tfp_flows.bijectors.act_norm.ActNorm.require_initialization (setter)",
        "tfp_flows.layers.flow_model.FlowModel.from_config",  # classmethod
        "tfp_flows.saving.saved_model.export_saved_model",
        "tfp_flows.testing.bijectors.check_bijector",
    ):
        assert expected in names
    # Inherited from Keras / TFP: not ours to annotate.
    assert not any(n.endswith((".add_weight", ".kl_divergence")) for n in names)
    assert len(names) > 150


def test_the_checks_find_what_is_missing():
    def f(x, *args, y: int = 0, **kwargs) -> int:
        return y

    assert _missing_in_callable("f", f) == [
        "f: parameter 'x'",
        "f: parameter 'args'",
        "f: parameter 'kwargs'",
    ]
    assert _missing_in_callable("g", lambda: 0) == ["g: return"]
    assert _missing_in_callable("g", lambda: 0, needs_return=False) == []

    class Base:
        def __init__(self, a):
            self.a = a

        def method(self) -> None:
            pass

        @property
        def value(self):
            return self.a

        @classmethod
        def make(cls, a: int) -> "Base":
            return cls(a)

        def _private(self, b):
            return b

    class Sub(Base):
        def method(self, c) -> None:  # overrides are checked once, here
            pass

    def short(text):  # drop the module and the test function's `<locals>`
        return text.rsplit("<locals>.", 1)[-1]

    members = {
        short(q): [short(m) for m in _missing_in_callable(q, fn, needs_return=r)]
        for q, fn, r in _class_members(Sub, is_ours=lambda obj: True)
    }
    assert members == {
        "Sub.method": ["Sub.method: parameter 'c'"],
        "Base.__init__": ["Base.__init__: parameter 'a'"],
        "Base.value (getter)": ["Base.value (getter): return"],
        "Base.make": [],
    }
