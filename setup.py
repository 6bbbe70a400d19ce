"""Installable AITom-style package: cryo-ET subtomogram I/O, simulation and FSFT domain adaptation."""
from setuptools import find_packages, setup

setup(
    name="aitom-fsft",
    version="0.1.0",
    description="Few-shot fine-tuning domain adaptation (FSFT) for cryo-ET subtomogram classification, "
    "in the AITom layout, on TensorFlow 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["aitom", "aitom.*"]),
    package_data={"aitom": ["data/structures/*", "data/structures/assemblies/*"]},
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "tensorflow>=2.16",
        # .keras loading with safe_mode=True: bypasses fixed in 3.9 (CVE-2025-1550), 3.11 (CVE-2025-8747,
        # CVE-2025-9906), 3.14 (CVE-2026-1462, TFSMLayer; archive path traversal); 3.15 (CVE-2026-12570, DoS)
        "keras>=3.15.0",
        "mrcfile>=1.5",
        "gemmi>=0.6",
        "starfile>=0.5",
        "pandas>=2.0",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6", "copick>=1.31,<2"],
        "copick": ["copick>=1.31,<2"],  # copick projects (aitom.io.copick_project); pulls zarr<3, s3fs, dask
        "bench": ["torch"],
    },
    entry_points={"console_scripts": ["aitom-fsft=aitom.classify.deep.fsft.cli:main"]},
)
