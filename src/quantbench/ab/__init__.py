"""The same-host A/B: head judged against base from alternating pairs (``paired``) and what
those pairs could detect (``detectable``)."""
