"""Semantic JSON diff: ignore paths, numeric tolerance, readable output; latency percentiles."""

import copy
import json

import pytest
from ansible_collections.greenlang.launch.plugins.module_utils import json_parity as jp
from hypothesis import assume, given
from hypothesis import strategies as st


def texts(diffs):
    return [d.readable() for d in diffs]


# ----------------------------------------------------------------------------- equality

def test_key_order_and_int_float_spelling_do_not_matter():
    a = json.loads('{"total": 1, "items": [{"a": 1, "b": 2}]}')
    b = json.loads('{"items": [{"b": 2.0, "a": 1}], "total": 1.0}')
    assert jp.JsonDiff().diff(a, b) == []


def test_changed_value_is_reported_with_its_pointer_and_both_sides():
    diffs = jp.JsonDiff().diff({"emissions": {"total": 12.5}}, {"emissions": {"total": 12.7}})
    assert len(diffs) == 1
    assert diffs[0].pointer == "/emissions/total"
    assert diffs[0].readable().startswith("/emissions/total: 12.5 != 12.7")


def test_missing_and_extra_keys_are_reported():
    diffs = jp.JsonDiff().diff({"a": 1, "b": 2}, {"a": 1, "c": 3})
    assert texts(diffs) == ["/b: only on the left: 2", "/c: only on the right: 3"]


def test_list_length_difference_is_reported():
    diffs = jp.JsonDiff().diff([1, 2, 3], [1, 2])
    assert texts(diffs) == ["/2: only on the left: 3"]


def test_type_change_is_reported_not_coerced():
    assert texts(jp.JsonDiff().diff({"n": 1}, {"n": "1"})) == ['/n: number 1 vs string "1"']
    assert texts(jp.JsonDiff().diff({"flag": True}, {"flag": 1})) == ["/flag: boolean true vs number 1"]


def test_root_level_difference_has_root_pointer():
    assert texts(jp.JsonDiff().diff("a", "b")) == ['/: "a" != "b"']


def test_keys_with_slash_and_tilde_are_escaped_in_pointers():
    diffs = jp.JsonDiff().diff({"a/b": {"c~d": 1}}, {"a/b": {"c~d": 2}})
    assert diffs[0].pointer == "/a~1b/c~0d"


def test_limit_stops_after_k_differences():
    a = {str(i): i for i in range(50)}
    b = {str(i): i + 1 for i in range(50)}
    assert len(jp.JsonDiff().diff(a, b, limit=5)) == 5


# ----------------------------------------------------------------------------- tolerance

def test_absolute_tolerance_allows_small_numeric_drift():
    differ = jp.JsonDiff(abs_tol=0.01)
    assert differ.diff({"x": 1.000}, {"x": 1.009}) == []
    diffs = differ.diff({"x": 1.0}, {"x": 1.02})
    assert len(diffs) == 1 and "exceeds tolerance" in diffs[0].readable()


def test_relative_tolerance_scales_with_magnitude():
    differ = jp.JsonDiff(rel_tol=1e-3)
    assert differ.diff({"t": 1_000_000.0}, {"t": 1_000_900.0}) == []
    assert len(differ.diff({"t": 1.0}, {"t": 1.01})) == 1


def test_tolerance_does_not_make_strings_or_booleans_equal():
    differ = jp.JsonDiff(abs_tol=10)
    assert len(differ.diff({"s": "1"}, {"s": "2"})) == 1
    assert len(differ.diff({"b": True}, {"b": False})) == 1


def test_negative_tolerance_is_rejected():
    with pytest.raises(ValueError):
        jp.JsonDiff(abs_tol=-1)


# ----------------------------------------------------------------------------- ignore paths

DOC_A = {"meta": {"generated_at": "2025-01-01T00:00:00Z", "version": "v1"},
         "results": [{"id": "r-1", "co2e": 1.5}, {"id": "r-2", "co2e": 2.5}]}
DOC_B = {"meta": {"generated_at": "2025-06-01T12:00:00Z", "version": "v2"},
         "results": [{"id": "x-9", "co2e": 1.5}, {"id": "x-8", "co2e": 2.5}]}


@pytest.mark.parametrize("ignore", [
    ["/meta", "/results/*/id"],
    ["meta", "results[*].id"],
    ["meta", "results[].id"],
    ["/meta/generated_at", "meta.version", "results[0].id", "/results/1/id"],
])
def test_ignore_paths_in_pointer_and_jmespath_syntax(ignore):
    assert jp.JsonDiff(ignore=ignore).diff(DOC_A, DOC_B) == []


def test_ignoring_one_field_still_reports_the_others():
    diffs = jp.JsonDiff(ignore=["/meta/generated_at"]).diff(DOC_A, DOC_B)
    assert [d.pointer for d in diffs] == ["/meta/version", "/results/0/id", "/results/1/id"]


def test_wildcard_key_in_jmespath_matches_any_object_key():
    a = {"agents": {"intake": {"trace": 1, "ok": True}, "report": {"trace": 2, "ok": True}}}
    b = {"agents": {"intake": {"trace": 9, "ok": True}, "report": {"trace": 8, "ok": False}}}
    diffs = jp.JsonDiff(ignore=["agents.*.trace"]).diff(a, b)
    assert [d.pointer for d in diffs] == ["/agents/report/ok"]


def test_quoted_jmespath_key_with_dot():
    a, b = {"a.b": {"c": 1}, "x": 1}, {"a.b": {"c": 2}, "x": 1}
    assert jp.JsonDiff(ignore=['"a.b".c']).diff(a, b) == []


def test_index_pattern_does_not_match_an_object_key_but_pointer_digits_do():
    a, b = {"0": 1}, {"0": 2}
    assert len(jp.JsonDiff(ignore=["[0]"]).diff(a, b)) == 1
    assert jp.JsonDiff(ignore=["/0"]).diff(a, b) == []


def test_ignored_path_that_is_missing_on_one_side_is_not_reported():
    assert jp.JsonDiff(ignore=["request_id"]).diff({"a": 1, "request_id": "x"}, {"a": 1}) == []


@pytest.mark.parametrize("bad", ["", "a..b", "a[", "a[?x>1]", "a.", 5])
def test_bad_ignore_path_is_rejected(bad):
    with pytest.raises(jp.PathSyntaxError):
        jp.JsonDiff(ignore=[bad])


# ----------------------------------------------------------------------------- percentiles

def test_percentiles_interpolate_linearly_between_ranks():
    values = list(range(1, 11))
    assert jp.percentile(values, 50) == pytest.approx(5.5)
    assert jp.percentile(values, 95) == pytest.approx(9.55)
    assert jp.percentile(values, 0) == 1 and jp.percentile(values, 100) == 10
    assert jp.percentile([7], 95) == 7
    assert jp.percentile([], 50) is None


def test_latency_summary_is_in_milliseconds_and_skips_failed_requests():
    s = jp.latency_summary([0.010, 0.020, None, 0.030])
    assert s == {"count": 3, "p50_ms": 20.0, "p95_ms": 29.0, "max_ms": 30.0}


# ----------------------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | \
    st.floats(allow_nan=False, allow_infinity=False, width=32) | st.text(max_size=5)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=4), children, max_size=4), max_leaves=20)


@given(json_values)
def test_property_a_document_equals_itself_and_its_json_round_trip(doc):
    assert jp.JsonDiff().diff(doc, doc) == []
    assert jp.JsonDiff().diff(doc, json.loads(json.dumps(doc))) == []


@given(json_values, json_values)
def test_property_diff_is_symmetric_in_count_and_paths(a, b):
    ab = jp.JsonDiff().diff(a, b)
    ba = jp.JsonDiff().diff(b, a)
    assert sorted(d.pointer for d in ab) == sorted(d.pointer for d in ba)
    assert (ab == []) == (ba == [])


@given(st.dictionaries(st.text(min_size=1, max_size=4), json_values, min_size=1, max_size=5), st.data())
def test_property_changing_only_an_ignored_key_keeps_parity(doc, data):
    key = data.draw(st.sampled_from(sorted(doc)))
    changed = copy.deepcopy(doc)
    changed[key] = ["changed", doc[key]]
    pointer = "/" + key.replace("~", "~0").replace("/", "~1")
    assert jp.JsonDiff(ignore=[pointer]).diff(doc, changed) == []
    found = jp.JsonDiff().diff(doc, changed)
    assert found and all(d.pointer == pointer or d.pointer.startswith(pointer + "/") for d in found)


@given(st.floats(-1e6, 1e6), st.floats(0, 10))
def test_property_numbers_within_absolute_tolerance_are_equal(x, tol):
    delta = tol * 0.99
    assume(abs((x + delta) - x) <= tol)  # float rounding can push the sum just past tol
    assert jp.JsonDiff(abs_tol=tol).diff({"v": x}, {"v": x + delta}) == []
