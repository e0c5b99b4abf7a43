"""Example applications built on rawsock: ``python -m examples.chat``, ``examples.stream``, ``examples.sync``."""
