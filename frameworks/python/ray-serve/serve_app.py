"""Ray Serve target: the FastAPI target's own app behind a Serve deployment.

Ray's documented way to serve an existing FastAPI app is `@serve.ingress(app)` on a
deployment class; every route, model, exception handler and the body limit are the FastAPI
target's (`frameworks/python/fastapi/app.py`), unchanged, so the difference between the two
targets is what Ray Serve adds: its HTTP proxy (uvicorn), the router, an actor call to the
replica, and the replica's own ASGI stack. The deployment's replica count and
`max_ongoing_requests` come from `serve.yaml` (filled in by `serve_main.py`).
"""

from ray import serve

# The FastAPI target's module (frameworks/python/fastapi is on PYTHONPATH): importing it
# builds the same FastAPI app, in the replica's process.
from app import app as fastapi_app


@serve.deployment
@serve.ingress(fastapi_app)
class FastAPIIngress:
    """No methods of its own: the routes are the FastAPI app's."""


deployment = FastAPIIngress.bind()
