"""JSON syntax as the contract defines it, for targets that parse with the stdlib `json`.

Python's `json` accepts `NaN`, `Infinity` and `-Infinity`, which are not JSON; the contract
answers them with 400 like any other syntax error. Bodies must be UTF-8.
"""

import json


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(body: bytes | str):
    """Parses one JSON document; raises `json.JSONDecodeError` on anything that is not JSON."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise json.JSONDecodeError(f"invalid UTF-8 ({e.reason})", "", e.start) from e
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError as e:
        if isinstance(e, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(e), body, 0) from e
