"""Real PostgreSQL (pgserver's bundled PostgreSQL 16) and a real moto server for the warehouse tests:
the throwaway servers of `emulation.control.scratch`, which the benchmarks use too."""

from emulation.control.scratch import ScratchMoto as MotoServer
from emulation.control.scratch import ScratchPostgres

__all__ = ["MotoServer", "ScratchPostgres"]
