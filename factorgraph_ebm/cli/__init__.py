"""The ``fgebm`` command line."""
