"""Event sources. Each yields decoded records or :class:`memwarden.core.event.Event` objects."""
