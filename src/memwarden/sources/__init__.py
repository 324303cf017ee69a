"""Event sources. Each yields decoded records or :class:`memwarden.event.Event` objects."""
