"""Component tests: one part of the pipeline against in-process stand-ins — a handler or a moto
patch on moto's `mock_aws`, the Glue transforms and glue_local on local Spark, the gateway or the
runtime's health route on a loopback HTTP server. Neither unit tests (they start moto, Spark or a
server: tens of seconds) nor integration tests (those run the real local cloud, no mocks or
monkeypatching): `make test-component`, and `make test` runs them with the rest."""
