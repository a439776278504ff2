"""The slab-by-slab JSON export decoder gives the frame ``from_records(json.loads(body))`` gives,
for any mix of values, whatever the slab size (issue 14: the usage extract's memory)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.sources import json_rows
from sfsync.sources.json_rows import records_frame


def _reference(body: bytes):
    payload = json.loads(body)
    return pd.DataFrame.from_records(payload) if isinstance(payload, list) else payload


def _same(body: bytes, slab_bytes: int) -> None:
    try:
        expected = _reference(body)
    except TypeError:  # not rows (a list of numbers): the same error either way
        with pytest.raises(TypeError):
            records_frame(body, slab_bytes=slab_bytes)
        return
    got = records_frame(body, slab_bytes=slab_bytes)
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert list(got.columns) == list(expected.columns)
    else:
        assert got == expected


# each column draws from a few kinds, so that slabs of one kind and mixes both occur
COLUMN_KINDS = st.lists(
    st.sampled_from(["none", "bool", "int", "float", "text"]), min_size=1, max_size=3
)


@st.composite
def exports(draw):
    kinds = draw(st.lists(COLUMN_KINDS, min_size=1, max_size=4))
    count = draw(st.integers(min_value=0, max_value=25))
    makers = {
        "none": st.none(),
        "bool": st.booleans(),
        "int": st.integers(min_value=-(2**65), max_value=2**65),
        "float": st.floats(allow_nan=False, allow_infinity=False),
        "text": st.text(alphabet='ab{}",:\\ é日', max_size=6),
    }
    rows = []
    for _ in range(count):
        rows.append(
            {
                f"c{i}": draw(st.one_of([makers[k] for k in column]))
                for i, column in enumerate(kinds)
            }
        )
    return json.dumps(rows, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=60, deadline=None)
@given(body=exports(), slab_bytes=st.integers(min_value=1, max_value=200))
def test_any_export_decodes_to_the_same_frame(body, slab_bytes):
    _same(body, slab_bytes)


@pytest.mark.parametrize(
    "text",
    [
        '[{"a": 9223372036854775807}, {"a": -9223372036854775809}]',  # beyond int64
        '[{"a": 18446744073709551616}]',  # beyond 64 bits: orjson refuses it
        '[{"a": NaN}, {"a": Infinity}, {"a": -Infinity}]',  # words json accepts
        '[{"a": 0.1000000000000000055511151231257827}]',  # more digits than a double holds
        '[{"a": 1e400}, {"a": -0.0}, {"a": 5e-324}]',
        "[]",
        " [ ] ",
        '[{"a": 1}]',
        '[\n {"a": 1, "b": "x"},\n {"a": 2, "b": null}\n]\n',
        '[{"a": 1, "b": "x"}, {"b": "y", "a": 2}]',  # keys in another order
        '[{"a": 1}, {"a": 2, "b": "new"}]',  # a key only later rows have
        '[{"a": {"n": 1}}, {"a": {"n": 2}}]',  # nested objects: decoded whole
        '[{"a": [1, 2]}, {"a": [3]}]',
        '[{"a": "}, {\\"a\\": 1"}, {"a": "z"}]',  # row text inside a string
        '{"error": "boom"}',
        '"text"',
        "[1, 2]",
        '[{"a": null}, {"a": null}, {"a": 1}, {"a": 2.5}]',
        '[{"a": null}, {"a": "x"}]',
        '[{"a": true}, {"a": null}, {"a": false}]',
        '[{"a": 1}, {"a": true}]',
        '[{"a": 9223372036854775808}, {"a": 1}]',
        # beyond int64 beside a negative integer: object for the whole list (hypothesis found)
        '[{"c0": 0.0}, {"c0": 9223372036854775808}, {"c0": -1}]',
        '[{"c": 0.0}, {"c": 9223372036854775808}, {"c": 0.5}, {"c": -1}]',
    ],
)
@pytest.mark.parametrize("slab_bytes", [1, 5, 14, 30, 1000])
def test_edge_cases(text, slab_bytes):
    _same(text.encode(), slab_bytes)


@pytest.mark.parametrize("text", ['[{"a": 1},]', '[{"a": 1}', '[{"a": 1}] x', "nope"])
def test_text_that_is_not_json_is_an_error(text):
    with pytest.raises(ValueError):
        records_frame(text.encode(), slab_bytes=1)


def test_a_large_export_is_decoded_in_slabs(monkeypatch):
    """Each slab is decoded on its own (one slab's dicts at a time), not the whole list."""
    rows = [{"tenant_id": f"t-{i}", "month": "2025-03", "n": i % 7 or None} for i in range(3000)]
    body = json.dumps(rows).encode()
    decoded: list[int] = []
    real_loads = json_rows._loads

    def counting_loads(text):
        result = real_loads(text)
        decoded.append(len(result) if isinstance(result, list) else -1)
        return result

    monkeypatch.setattr(json_rows, "_loads", counting_loads)
    got = records_frame(body, slab_bytes=10_000)
    assert len(decoded) > 5 and max(decoded) < len(rows) / 5
    pd.testing.assert_frame_equal(got, pd.DataFrame.from_records(rows), check_exact=True)
