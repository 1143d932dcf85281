"""What the four Python targets share: the contract's limits, the model, the token stream,
JSON syntax rules and the mapping of validation errors to the contract's error bodies.

The gateway's forwarding is shared too: `gateway` (what is forwarded, the re-labelling of the
upstream's events, the 502 body, an SSE reader), with the one client per process of the
async targets in `gateway_async` (httpx) and of the sync ones in `gateway_sync` (requests).

Each framework validates with its own machinery (pydantic, msgspec, ninja); this package
holds no request schema of its own except the pydantic field types in `fields`, which
FastAPI, Django Ninja and Flask compose into their models.
"""
