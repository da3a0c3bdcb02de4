"""Every metric over time: the samples gathered from baselines and session files (``series``)
and each series judged for steps and drift (``trend``)."""
