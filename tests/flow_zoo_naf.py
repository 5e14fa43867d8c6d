"""Neural autoregressive flows (MAF/IAF with the sigmoidal transformers of
Huang et al. 2018) in the Keras drop-in zoo."""

from tests.flow_zoo import FlowCase
from tests.flow_zoo import _digits_with_labels
from tests.flow_zoo import _vectors
from tfp_flows import flows

CASES = [
    FlowCase(
        "maf_sigmoidal",
        lambda: flows.maf(
            4,
            num_layers=2,
            hidden_units=(16,),
            transform="sigmoidal",
            num_hidden_sigmoids=4,
            sigmoid_layers=2,
            actnorm=True,
            seed=1,
        ),
        _vectors,
        has_act_norm=True,
    ),
    FlowCase(
        "iaf_dense_sigmoidal",
        # One layer: with two, its fit/evaluate/predict under XLA took 127 s
        # (beside a second test worker; one layer: 42 s alone). A stack of
        # them is the registry's `iaf_dense_sigmoidal_stack`.
        lambda: flows.iaf(
            4,
            num_layers=1,
            hidden_units=(16,),
            transform="dense_sigmoidal",
            num_hidden_sigmoids=3,
            sigmoid_layers=2,
            seed=1,
        ),
        _vectors,
    ),
    FlowCase(
        "maf_sigmoidal_class_conditional",
        lambda: flows.maf(
            16,
            num_layers=2,
            hidden_units=(32,),
            transform="sigmoidal",
            num_hidden_sigmoids=4,
            context_size=10,
            seed=1,
        ),
        _digits_with_labels,
        conditional=True,
    ),
]
