"""Rule languages compiled to the engine's detector interface: Falco rules (falco/) and
Capsule8 policies (capsule8/); formats.py tells their files apart by shape."""
