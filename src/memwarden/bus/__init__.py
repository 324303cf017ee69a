"""The message bus shared by the fleet pieces: NATS JetStream addresses, connection options,
the asyncio thread that hosts the client, the on-disk buffer and the acked publisher.

Outputs (findings to NATS), the record forwarder (events to NATS) and the consumer source
(events from NATS) are siblings that must not import each other; what they share lives here,
below them and beside the engine (it imports neither). See ``docs/fleet.md``.
"""
