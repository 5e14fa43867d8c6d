"""Load `.keras` files saved from a `FlowModel`, with checked errors."""

from __future__ import annotations

import os
import zipfile

from tfp_flows.internal.keras import keras
from tfp_flows.layers.flow_model import FlowModel
from tfp_flows.vae.model import VAE

__all__ = ["load_flow_model"]


def load_flow_model(
    filepath: str | os.PathLike[str], *, expected_builder: str | None = None
) -> FlowModel | VAE:
    """Loads a `.keras` file saved from a `FlowModel` (with `safe_mode=True`).

    Also loads the file of a `tfp_flows.vae.VAE` (what `tfp-flows train
    --model vae` writes), so that every model the command saves reloads
    through this one function; its builder name is `'vae'`.

    Args:
      filepath: path of the `.keras` file.
      expected_builder: if given (e.g. `'glow'`, or `'vae'`), the saved flow
        must be of it.

    Returns:
      The `tfp_flows.layers.FlowModel` (or `tfp_flows.vae.VAE`), uncompiled.

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
    if not isinstance(model, (FlowModel, VAE)):
        raise ValueError(
            f"load_flow_model: {path!r} holds a {type(model).__name__}, "
            "not a FlowModel (or a VAE)."
        )
    builder = "vae" if isinstance(model, VAE) else model.builder_name
    if expected_builder is not None and builder != expected_builder:
        raise ValueError(
            f"load_flow_model: {path!r} holds a {builder} flow; expected "
            f"a {expected_builder} flow."
        )
    return model
