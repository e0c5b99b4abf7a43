"""Move a file of any size over one WebSocket connection without filling memory.

``python -m examples.stream receive --port 9000 --dir received/`` serves; ``python -m
examples.stream send PATH ws://127.0.0.1:9000/`` sends. See README.md in this directory.
"""
