"""Training: Lightning module and data module, callbacks, and the ``lra-train`` Hydra entry point."""
