"""Saving and serving flows: `.keras` files and SavedModel exports.

`FlowModel.save("m.keras")` stores a flow as its builder's arguments (no
code); `load_flow_model` loads such a file with `safe_mode=True` and checks
what it holds. `export_saved_model` writes a SavedModel whose `log_prob` and
`sample` signatures load with plain `tf.saved_model.load`, without
`tfp_flows`.
"""

from tfp_flows.saving.keras_file import load_flow_model
from tfp_flows.saving.saved_model import export_saved_model

__all__ = ["export_saved_model", "load_flow_model"]
