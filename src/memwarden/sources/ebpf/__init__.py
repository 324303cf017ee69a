"""The live eBPF sensor: a CO-RE probe (``memwarden.bpf.c``) loaded through the system libbpf,
filters compiled from the detectors' requirements, a batched ring-buffer reader.

Import :class:`EbpfSensor` from :mod:`memwarden.sources.ebpf.sensor`; importing this package
does not load libbpf.
"""
