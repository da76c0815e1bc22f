"""Patches applied inside the moto server process at start (moto is pinned to 5.2.1).

Each module exposes `apply(runtime_url: str | None) -> None`; `emulation.moto.server` applies all
of `emulation.registry.MOTO_PATCHES` before serving. Each patch's docstring says what moto does
wrong and how it is fixed.
"""
