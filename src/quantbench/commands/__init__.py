"""The commands behind ``python -m quantbench``: ``cli`` dispatches to ``ab``, ``sweep``, ``fetch``,
``history``, ``compare`` and ``calibrate``; each answers with the statuses of ``quantbench.exits``.
"""
