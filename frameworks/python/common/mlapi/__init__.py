"""What the four Python targets share: the contract's limits, the model, the token stream,
JSON syntax rules and the mapping of validation errors to the contract's error bodies.

Each framework validates with its own machinery (pydantic, msgspec, ninja); this package
holds no request schema of its own except the pydantic field types in `fields`, which
FastAPI, Django Ninja and Flask compose into their models.
"""
