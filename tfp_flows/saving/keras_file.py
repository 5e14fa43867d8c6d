"""Load `.keras` files saved from a `FlowModel`, with checked errors."""

from __future__ import annotations

import os
import zipfile

from tfp_flows.internal.keras import keras
from tfp_flows.layers.flow_model import FlowModel

__all__ = ["load_flow_model"]


def load_flow_model(
    filepath: str | os.PathLike[str], *, expected_builder: str | None = None
) -> FlowModel:
    """Loads a `.keras` file saved from a `FlowModel` (with `safe_mode=True`).

    Args:
      filepath: path of the `.keras` file.
      expected_builder: if given (e.g. `'glow'`), the saved flow must be of it.

    Returns:
      The `tfp_flows.layers.FlowModel`, uncompiled.

    Raises:
      ValueError: for a missing, corrupt or non-flow file, or another flow type.

    #### Examples

    >>> import os, tempfile
    >>> from tfp_flows import flows
    >>> from tfp_flows.layers import FlowModel
    >>> path = os.path.join(tempfile.mkdtemp(), "maf.keras")
    >>> FlowModel(flows.maf(2, num_layers=1, hidden_units=[4])).save(path)
    >>> load_flow_model(path, expected_builder="maf").builder_name
    'maf'
    """
    path = str(filepath)
    if not os.path.exists(path):
        raise ValueError(
            f"load_flow_model: argument `filepath` {path!r} does not exist."
        )
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"load_flow_model: argument `filepath` {path!r} is not a .keras archive "
            "(corrupt or another format)."
        )
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # Keras raises many types for a damaged archive.
        raise ValueError(
            f"load_flow_model: could not load {path!r}: {type(e).__name__}: {e}"
        ) from e
    if not isinstance(model, FlowModel):
        raise ValueError(
            f"load_flow_model: {path!r} holds a {type(model).__name__}, "
            "not a FlowModel."
        )
    if expected_builder is not None and model.builder_name != expected_builder:
        raise ValueError(
            f"load_flow_model: {path!r} holds a {model.builder_name} flow; expected "
            f"a {expected_builder} flow."
        )
    return model
