"""Assembly: settings (file + flags), the runtime built from them (sources, engine, outputs)
and the operations around it (reload, signals, metrics). No argument parsing here."""
