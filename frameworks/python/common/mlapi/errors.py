"""The contract's error bodies (docs/contract.md, "Error bodies") built from what each
framework reports, so every target answers `{"detail":[{"loc":[...],"msg":…,"type":…}]}`.
"""

JSON_INVALID = "json_invalid"


def json_invalid(msg: str) -> dict:
    """The body of a 400: exactly one entry at `["body"]`."""
    return {"detail": [{"loc": ["body"], "msg": msg or "invalid JSON", "type": JSON_INVALID}]}


def unsupported_media_type(content_type: str | None) -> dict:
    return {
        "detail": [
            {
                "loc": ["header", "content-type"],
                "msg": f"expected application/json, got {content_type!r}",
                "type": "unsupported_media_type",
            }
        ]
    }


def body_too_large(limit: int) -> dict:
    return {"detail": [{"loc": ["body"], "msg": f"body exceeds {limit} bytes", "type": "body_too_large"}]}


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, any case, parameters allowed (the same rule as the Rust targets)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def pydantic_detail(errors: list[dict], prefix: tuple = ("body",)) -> list[dict]:
    """pydantic errors as contract entries: `loc` gets the `body` prefix, and pydantic's
    `[key]` marker after a bad dict key is dropped so the path ends in the key itself."""
    out = []
    for e in errors:
        loc = [p for p in e["loc"] if p != "[key]"]
        out.append({"loc": [*prefix, *loc], "msg": e.get("msg") or e["type"], "type": e["type"]})
    return out
