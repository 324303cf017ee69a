"""Rule languages compiled to the engine's detector interface: Falco rules (falco/)."""
