"""Settings packages: ``base`` (everything, environment-driven), ``test`` and ``production``."""
