"""Provision steps of template mode (`emulation.registry.TEMPLATE_PROVISION_STEPS`): what only the template
says, next to the description-driven steps of `emulation.provision` that run unchanged on the
translated description. Each exposes `provision(config, resources, names)` and is idempotent."""
