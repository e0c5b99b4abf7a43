"""Example applications built on rawsock.

Run them from the repository root: ``python -m examples.chat``, ``python -m
examples.stream``, ``python -m examples.sync`` (each has a README.md).
"""
