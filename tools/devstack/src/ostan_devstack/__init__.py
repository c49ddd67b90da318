"""Development tools: the whole platform on one machine (``python -m ostan_devstack run``)."""
