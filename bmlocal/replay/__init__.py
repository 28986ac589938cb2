"""Reproducing a cloud job offline: replay, mirror, provenance, compare, export."""
