"""Provision step 'warehouse' (see emulation/provision/__init__.py). Owner fills it in."""

from __future__ import annotations


def provision(config, resources, names) -> None:
    raise NotImplementedError("emulation.provision.warehouse")
