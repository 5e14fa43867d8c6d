"""Small shipped data sets and helpers (no downloads)."""

from tfp_flows.data.digits import bits_per_dim
from tfp_flows.data.digits import dequantize
from tfp_flows.data.digits import load_digits
from tfp_flows.data.images import image_num_levels
from tfp_flows.data.images import load_images
from tfp_flows.data.preprocess import as_dataset
from tfp_flows.data.preprocess import logit_log_det
from tfp_flows.data.preprocess import preprocess_images
from tfp_flows.data.preprocess import split_indices
from tfp_flows.data.signals import ar_autocovariance
from tfp_flows.data.signals import ar_entropy_rate
from tfp_flows.data.signals import ar_log_likelihood
from tfp_flows.data.signals import ar_process
from tfp_flows.data.signals import chirp
from tfp_flows.data.signals import load_speech_clip
from tfp_flows.data.signals import mu_law_decode
from tfp_flows.data.signals import mu_law_encode
from tfp_flows.data.signals import sum_of_sines
from tfp_flows.data.tabular import Standardizer
from tfp_flows.data.tabular import load_table

__all__ = [
    "Standardizer",
    "as_dataset",
    "bits_per_dim",
    "dequantize",
    "image_num_levels",
    "load_digits",
    "load_images",
    "load_table",
    "logit_log_det",
    "preprocess_images",
    "split_indices",
    "ar_autocovariance",
    "ar_entropy_rate",
    "ar_log_likelihood",
    "ar_process",
    "chirp",
    "load_speech_clip",
    "mu_law_decode",
    "mu_law_encode",
    "sum_of_sines",
]
