"""Outputs: how findings are formatted (``formats``) and where they go: one module per output
kind (``stream``, ``file``, ``syslog``, ``http``), the registry that reads specs and opens them
(``registry``), and the fan-out the engine writes to (``fanout``). Nothing here knows about
settings files or commands: delivery options are handed in (:class:`~.base.Delivery`)."""
