"""Build configuration for the optional C accelerator; everything else is in pyproject.toml.

The extension is optional: without a C compiler the build goes on and rawsock uses its
pure-Python masking.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rawsock.sansio._speedups",
            sources=["rawsock/sansio/_speedups.c"],
            optional=True,
        )
    ]
)
