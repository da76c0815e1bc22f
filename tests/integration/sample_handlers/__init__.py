"""Small Lambda handlers the runtime and event-source-mapping tests deploy (see test_resources_lambda)."""
