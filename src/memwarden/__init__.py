"""memwarden: a Linux runtime security sensor for attacks on memory."""

__version__ = "0.1.0"
