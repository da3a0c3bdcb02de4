"""The same-host A/B: head judged against base from alternating pairs (``paired``) and what
those pairs could detect (``detectable``), with why as data (``reasons``; ``report.ab_text`` says it)."""
