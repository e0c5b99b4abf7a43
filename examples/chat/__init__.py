"""A chat server on rawsock: nicknames, rooms with history, a browser page, a terminal
client, several processes on one port, and rooms shared through Redis.

Start it with ``python -m examples.chat`` and open http://127.0.0.1:8000/.
"""
