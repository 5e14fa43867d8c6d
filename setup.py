"""Packaging for tfp_flows. The version is read from tfp_flows/__init__.py."""

import pathlib
import re

from setuptools import find_packages
from setuptools import setup

_HERE = pathlib.Path(__file__).parent
_VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (_HERE / "tfp_flows" / "__init__.py").read_text(),
    re.M,
).group(1)

# The stack measured to work together on this machine (see README).
_INSTALL_REQUIRES = [
    "tensorflow==2.21.*",
    "tensorflow-probability==0.25.*",
    "tf-keras==2.21.*",  # TFP 0.25 imports tf_keras internally.
    "keras>=3.15,<3.16",
    "numpy>=1.26",
    "scikit-learn>=1.4",  # shipped 8x8 digits (no download)
    "matplotlib>=3.8",  # PNG sample grids and curves of the main job
    "tqdm>=4.66",
]

_EXTRAS = {
    # tensorboard: `tfp-flows train --tensorboard` and its tests.
    "test": [
        "pytest>=8",
        "pytest-xdist>=3.6",  # `-n auto` in pyproject's addopts
        "nbclient>=0.10",
        "nbformat>=5.10",
        "ipykernel>=6.29",
        "tensorboard==2.21.*",
    ],
    "tensorboard": ["tensorboard==2.21.*"],
    "colab": ["jupyter>=1.0", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29"],
    "bench": ["psutil>=5.9"],
    # The documentation site (`mkdocs build --strict`, run by .ci/run).
    "docs": ["mkdocs>=1.6", "mkdocstrings-python>=1.10", "mkdocs-jupyter>=0.24"],
    # Lint and type checks (run by .ci/run).
    "dev": ["ruff>=0.14,<0.15", "mypy>=1.13"],
}
_EXTRAS["all"] = sorted({r for reqs in _EXTRAS.values() for r in reqs})

setup(
    name="tfp_flows",
    version=_VERSION,
    description=(
        "Normalizing flows (Glow, RealNVP, MAF, IAF, planar) and PixelRNN for "
        "TensorFlow Probability, with every parameter a Keras 3 weight."
    ),
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfp_flows", "tfp_flows.*"]),
    package_data={
        "tfp_flows": ["py.typed", "data/speech/clip.wav", "data/speech/README.md"]
    },
    install_requires=_INSTALL_REQUIRES,
    extras_require=_EXTRAS,
    entry_points={"console_scripts": ["tfp-flows=tfp_flows.cli:main"]},
    license="Apache-2.0",
)
