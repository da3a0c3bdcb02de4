"""Stored baselines and their windows of sessions: the files (``baseline``: slugs, locks,
history copies, atomic writes), the window each baseline keeps (``window``), the merge of
sessions into one baseline (``calibrate``: ``--qb-update-baseline`` and ``calibrate``) and the
checks on calibrate's inputs (``calibrate_checks``)."""
