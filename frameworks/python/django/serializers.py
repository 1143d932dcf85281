"""The request bodies as DRF serializers, built from strict field subclasses.

DRF's stock fields coerce, which the contract forbids (docs/contract.md, "Types are
strict"): CharField takes numbers (`str(12345678)`), FloatField takes strings and booleans
(`float("0.5")`, `float(True)`), IntegerField takes `3.0` and `"3"`, BooleanField takes
`1` and `"yes"`, ChoiceField looks the choice up by `str(data)`. Each `Strict*` field below
refuses the other JSON types in `to_internal_value` and leaves the rest to DRF. `null` is
refused by DRF already (no field sets `allow_null`), and unknown fields are ignored (a
`Serializer` reads only its declared fields).

Two more of DRF's defaults differ from the contract and are turned off in `StrictCharField`:
CharField trims whitespace (`" x"` would be stored as `"x"` and `" "` refused as blank),
and refuses NUL characters (`"a\\u0000b"` is a valid 3-character id).
"""

import re

from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator, RegexValidator
from rest_framework import serializers

from mlapi import contract as c


def _number(data) -> bool:
    return isinstance(data, (int, float)) and not isinstance(data, bool)


class StrictCharField(serializers.CharField):
    """A JSON string, kept as sent."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return data


class StrictFloatField(serializers.FloatField):
    """A JSON number (DRF's FloatField already refuses NaN and infinities)."""

    def to_internal_value(self, data):
        if not _number(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON number without fraction or exponent: `json` gives those as `float`."""

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time string with a UTC offset. DRF makes a naive time aware in the
    current time zone (USE_TZ) and reads a date alone as midnight; the contract refuses
    both (docs/contract.md, `timestamp`)."""

    default_error_messages = {"naive": "Datetime must carry a UTC offset (RFC 3339)."}

    def enforce_timezone(self, value):
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        return super().enforce_timezone(value)


def _full_match(pattern: str) -> RegexValidator:
    # RegexValidator uses re.search, and in Python `$` also matches before a final
    # newline; the contract's patterns (written for pydantic's regex engine) mean the end
    # of the string.
    return RegexValidator(re.compile(pattern.removesuffix("$") + r"\Z"))


class TagsField(serializers.DictField):
    """`tags`: DictField validates the values only; the contract also bounds the keys and
    the number of entries. A bad entry is reported at its key."""

    def __init__(self, **kwargs):
        super().__init__(
            child=StrictCharField(min_length=c.TAG_VALUE_MIN, max_length=c.TAG_VALUE_MAX),
            validators=[MaxLengthValidator(c.TAGS_MAX, message=f"Ensure this object has at most {c.TAGS_MAX} entries.")],
            **kwargs,
        )
        self.key_field = StrictCharField(
            min_length=c.TAG_KEY_MIN, max_length=c.TAG_KEY_MAX, validators=[_full_match(c.TAG_KEY_PATTERN)]
        )
        self.key_field.bind(field_name="", parent=self)

    def run_child_validation(self, data):
        result, errors = {}, {}
        for key, value in data.items():
            try:
                result[self.key_field.run_validation(key)] = self.child.run_validation(value)
            except serializers.ValidationError as e:
                errors[key] = e.detail
        if errors:
            raise serializers.ValidationError(errors)
        return result


def features_field() -> serializers.ListField:
    return serializers.ListField(
        child=StrictFloatField(min_value=c.FEATURE_MIN, max_value=c.FEATURE_MAX),
        min_length=c.FEATURES,
        max_length=c.FEATURES,
    )


class RowSerializer(serializers.Serializer):
    id = StrictCharField(min_length=c.ROW_ID_MIN, max_length=c.ROW_ID_MAX)
    features = features_field()
    tags = TagsField(default=dict)
    timestamp = AwareDateTimeField()


class ParamsSerializer(serializers.Serializer):
    threshold = StrictFloatField(min_value=0.0, max_value=1.0, default=c.THRESHOLD_DEFAULT)
    top_k = StrictIntegerField(min_value=c.TOP_K_MIN, max_value=c.TOP_K_MAX, default=c.TOP_K_DEFAULT)
    explain = StrictBooleanField(default=False)


#: `params` when the request leaves it out (a default is used as is, not validated).
PARAMS_DEFAULT = {"threshold": c.THRESHOLD_DEFAULT, "top_k": c.TOP_K_DEFAULT, "explain": False}


class PredictSerializer(serializers.Serializer):
    request_id = StrictCharField(
        min_length=c.REQUEST_ID_MIN, max_length=c.REQUEST_ID_MAX, validators=[_full_match(c.REQUEST_ID_PATTERN)]
    )
    model = StrictChoiceField(choices=["linear", "mlp"])
    inputs = RowSerializer(many=True, min_length=c.ROWS_MIN, max_length=c.ROWS_MAX)
    params = ParamsSerializer(default=PARAMS_DEFAULT)


class GenerateSerializer(serializers.Serializer):
    prompt = StrictCharField(min_length=c.PROMPT_MIN, max_length=c.PROMPT_MAX)
    max_tokens = StrictIntegerField(min_value=c.MAX_TOKENS_MIN, max_value=c.MAX_TOKENS_MAX)
    token_delay_ms = StrictIntegerField(min_value=0, max_value=c.TOKEN_DELAY_MAX, default=c.TOKEN_DELAY_DEFAULT)
    seed = StrictIntegerField(min_value=0, max_value=c.SEED_MAX, default=c.SEED_DEFAULT)


class ChatMessageSerializer(serializers.Serializer):
    role = StrictChoiceField(choices=c.CHAT_ROLES)
    content = StrictCharField(max_length=c.CONTENT_MAX, allow_blank=True)


class ChatSerializer(serializers.Serializer):
    model = StrictCharField(min_length=c.CHAT_MODEL_MIN, max_length=c.CHAT_MODEL_MAX)
    messages = ChatMessageSerializer(many=True, min_length=c.MESSAGES_MIN, max_length=c.MESSAGES_MAX)
    stream = StrictBooleanField(default=False)
    # Not required: left out of validated_data when absent.
    max_tokens = StrictIntegerField(min_value=c.MAX_TOKENS_MIN, max_value=c.MAX_TOKENS_MAX, required=False)
    max_completion_tokens = StrictIntegerField(min_value=c.MAX_TOKENS_MIN, max_value=c.MAX_TOKENS_MAX, required=False)
    temperature = StrictFloatField(min_value=c.TEMPERATURE_MIN, max_value=c.TEMPERATURE_MAX, required=False)


class InferSerializer(serializers.Serializer):
    features = features_field()
    mode = StrictChoiceField(choices=["io", "cpu"])
    latency_ms = StrictIntegerField(min_value=0, max_value=c.LATENCY_MAX, default=c.LATENCY_DEFAULT)
    work = StrictIntegerField(min_value=c.WORK_MIN, max_value=c.WORK_MAX, default=c.WORK_DEFAULT)
