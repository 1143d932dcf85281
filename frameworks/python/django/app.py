"""Django + Django REST Framework target: DRF serializers (strict field subclasses,
serializers.py) validated in sync class-based views (views.py), served as WSGI by gunicorn
with gthread workers, like Flask. Django and DRF are configured here, in one module; there
is no database, no middleware and no app but DRF's own.

Settings that depart from the defaults, each because the contract or the harness needs it:
- DATA_UPLOAD_MAX_MEMORY_SIZE: the contract's 1 MiB (Django's default is 2.5 MiB);
- REST_FRAMEWORK: the JSON renderer only (the browsable API needs templates and static
  files); no authentication or permission classes and UNAUTHENTICATED_USER None, so
  `request.user` needs neither django.contrib.auth nor a database (the defaults, session
  and basic authentication, need both); the EXCEPTION_HANDLER that answers in the
  contract's shape (views.py). The POST views parse JSON only (`parser_classes`, views.py);
- LOGGING: Django logs every 4xx response at WARNING (`django.request`); like the other
  targets, only server errors are logged, so that logger is set to ERROR.
Chunked request bodies need a WSGI middleware (`ChunkedBody`, below).
"""

import io

import django
from django.conf import settings

from mlapi import contract as c

settings.configure(
    DEBUG=False,
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["rest_framework"],
    MIDDLEWARE=[],
    DATABASES={},
    DATA_UPLOAD_MAX_MEMORY_SIZE=c.BODY_LIMIT,
    REST_FRAMEWORK={
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
        "EXCEPTION_HANDLER": "views.contract_exception_handler",
    },
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {"django.request": {"level": "ERROR"}},
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402

import views  # noqa: E402
from mlapi.lifecycle import die_with_parent  # noqa: E402

die_with_parent()

urlpatterns = [
    path("health", views.Health.as_view()),
    path("v1/predict", views.Predict.as_view()),
    path("v1/generate", views.Generate.as_view()),
    path("v1/infer", views.Infer.as_view()),
    path("v1/chat/completions", views.ChatCompletions.as_view()),
]


class ChunkedBody:
    """WSGI middleware for chunked request bodies. Django's WSGIRequest reads a body only as
    far as CONTENT_LENGTH says, and a chunked request has none, so Django takes the body for
    empty (and DRF sees no body at all). gunicorn de-chunks `wsgi.input`; this reads it up
    to one byte past the limit and hands it on with its length, so DRF parses it, and
    Django's DATA_UPLOAD_MAX_MEMORY_SIZE check refuses it (a 413, views.py) when it is over.
    gunicorn discards the rest of an oversized body, and answers a malformed chunk with its
    own 400."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    def __call__(self, environ, start_response):
        if "CONTENT_LENGTH" not in environ and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = environ["wsgi.input"].read(self.limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


application = ChunkedBody(get_wsgi_application(), c.BODY_LIMIT)
