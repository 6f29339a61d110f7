"""Installs the pipeline and the user code, so dotted paths import everywhere."""
from setuptools import find_packages, setup

setup(
    name="tfx-kfp-pipeline",
    version="0.1.0",
    description="A TFX pipeline that runs locally under Beam and compiles to Kubeflow Pipelines v2.",
    # "system": the artifact types Kubeflow renders (system.HTML), imported back by title.
    packages=find_packages(include=["pipeline", "pipeline.*", "components", "components.*",
                                    "kubeflow", "kubeflow.*", "system"]),
    python_requires=">=3.10",
    # Exact versions live in requirements.lock; these are the direct needs.
    install_requires=["tfx==1.16.0", "kfp==2.5.0", "click", "pyyaml"],
    entry_points={"console_scripts": ["tfx-pipeline=pipeline.cli:main"]},
)
