"""Outputs: how findings are formatted (``formats``) and where they go (``sinks``)."""
