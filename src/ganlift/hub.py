"""Save, load, push and pull lifters (safetensors + config.json + model card)."""


class HubMixin:
    """Adds ``save_pretrained``, ``from_pretrained`` and ``push_to_hub`` to ``Lifter``."""
