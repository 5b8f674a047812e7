"""The JSON writer of events and the reader of config.json and the fork server's messages."""
import json

import pytest

from _racehunt import jsonio


def test_the_writer_emits_no_spaces_and_escapes_what_json_and_javascript_need():
    text = jsonio.dumps({"a": '\u2028x"\\\n\x7f\x01\t\u00e9', "i": 3, "l": [1, 2.5, None, True, False, (1,)]})
    assert text == (b'{"a":"\\u2028x\\"\\\\\\n\\u007f\\u0001\\t\xc3\xa9","i":3,'
                    b'"l":[1,2.5,null,true,false,[1]]}')
    assert b" " not in text         # the harness's readers rely on it


def test_numbers_json_cannot_hold_become_null_and_floats_keep_their_repr():
    assert jsonio.dumps([float("nan"), float("inf"), float("-inf"), 0.1, 1e-06, -0.0]) == \
        b"[null,null,null,0.1,1e-06,-0.0]"


def test_keys_become_strings_and_other_objects_their_repr():
    class X(object):
        def __repr__(self):
            return "<X>"
    assert jsonio.dumps({3: X()}) == b'{"3":"<X>"}'


def test_a_lone_surrogate_becomes_a_question_mark_not_invalid_utf8():
    out = jsonio.dumps({"s": "a\udcffb"})
    assert out == b'{"s":"a?b"}'
    out.decode("utf-8")


def test_a_failing_repr_is_described_and_a_long_one_cut():
    class Bad(object):
        def __repr__(self):
            raise RuntimeError("no")
    assert jsonio.safe_repr(Bad()) == "<repr failed: RuntimeError: no>"
    assert jsonio.safe_repr("x" * 3000, limit=10) == repr("x" * 3000)[:10] + "...(2992 more characters)"


@pytest.mark.parametrize("value", [
    {}, [], "", 0, -7, 2.5, True, False, None,
    {"nested": {"list": [1, [2, [3, {}]]], "text": "tab\there \"quoted\" back\\slash"}},
    ["\u0000\u001f", "\u00e9\u4e2d\U0001f600", "\u2028\u2029", "/"],
])
def test_round_trip_through_both_directions(value):
    text = jsonio.dumps(value).decode("utf-8")
    assert jsonio.loads(text) == value
    assert json.loads(text) == value    # the standard reader agrees with the writer


def test_the_reader_takes_what_the_harness_writes():
    # config.json as nlohmann::json's dump(2) writes it: indented, UTF-8 as is, control
    # characters as \u00XX, exponents with a sign.
    text = ('{\n  "checks": {\n    "invariants": [\n      "balance == 100"\n    ]\n  },\n'
            '  "protocol": 1,\n  "run_seed": "00000000000000aa",\n  "scenario_dir": "/t/d\u00e9j\u00e0",\n'
            '  "switch_interval": 1e-06,\n  "yields": {\n    "focus": [\n      "/t/w.py"\n    ],\n'
            '    "pins": [\n      [\n        "00000000000000aa",\n        0,\n        12\n      ]\n    ],\n'
            '    "probability": 0.05,\n    "name": "a\\u001fb\\n\\t\\"c\\\\"\n  },\n  "control": null\n}\n')
    config = jsonio.loads(text)
    assert config == json.loads(text)
    assert config["switch_interval"] == 1e-06 and config["protocol"] == 1
    assert config["yields"]["pins"] == [["00000000000000aa", 0, 12]]
    assert config["yields"]["name"] == 'a\x1fb\n\t"c\\'
    assert config["scenario_dir"] == "/t/d\u00e9j\u00e0"


def test_escapes_the_reader_understands():
    assert jsonio.loads(r'"\u00e9\ud83d\ude00\n\/\b\f\r"') == "\u00e9\U0001f600\n/\b\f\r"
    # A high surrogate with no low one stays a lone surrogate, as Python's own reader keeps it.
    assert jsonio.loads(r'"\ud83dx"') == "\ud83dx"


@pytest.mark.parametrize("text, error", [
    ("{", "config.json: expected a key at offset 1"),
    ("[1,]", "config.json: unexpected character ']' at offset 3"),
    ('{"a" 1}', "config.json: expected ':' at offset 5"),
    ('"\\x"', "config.json: bad escape at offset 1"),
    ('"\\u12g4"', "config.json: bad \\u escape at offset 1"),
    ("1 2", "config.json: trailing data at offset 2"),
    ("", "config.json: unexpected end at offset 0"),
    ('"open', "config.json: unterminated string at offset 0"),
    ("[1 2]", "config.json: expected ',' or ']' at offset 3"),
    ("1.2.3", "config.json: bad number '1.2.3' at offset 5"),
])
def test_malformed_text_is_a_json_error_with_its_offset(text, error):
    with pytest.raises(jsonio.JsonError) as info:
        jsonio.loads(text)
    assert str(info.value) == error
