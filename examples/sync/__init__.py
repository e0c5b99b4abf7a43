"""A shared JSON document kept in sync between clients: ``python -m examples.sync``.

Modules: :mod:`.document` (the tree and patches), :mod:`.protocol` (the JSON messages),
:mod:`.replica` (a client's copy, in version order), :mod:`.server` (applies and
broadcasts), :mod:`.site` (the browser page), :mod:`.client` (a Python client).
"""
