"""The API's JSON parser answers as json.loads does, value for value and error for error."""
import json

import pytest

from bmlocal.api.app import parsed

CASES = ['{"id": 7, "prjId": "p1"}', ' \t{"a": 1}\r\n', '{"a": 1} x', '', '   ', '[1, 2]',
         'NaN', '{"a": 1}{"b": 2}', '"s"', '1 2', '\u00a0{"a": 1}', '{"a": 1}\u00a0',
         '{"a": "\\ud800"}', '{"a": 1, "a": 2}', '{"n": 123456789012345678901234567890}',
         '{"x": 1e400}', '{"a": [1, {"b": null}]', '\ufeff{"a": 1}', '[' * 100_000]


@pytest.mark.parametrize("text", CASES, ids=range(len(CASES)))
def test_parsed_answers_as_json_loads(text: str) -> None:
    try:
        expected = ("value", json.loads(text))
    except (ValueError, RecursionError) as exc:
        expected = ("error", type(exc))
    try:
        got = ("value", parsed(text))
    except (ValueError, RecursionError) as exc:
        got = ("error", type(exc))
    assert repr(got) == repr(expected)  # repr: NaN is not equal to itself
