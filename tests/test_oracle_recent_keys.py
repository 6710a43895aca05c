"""The Oracle's records of recent spans: those already folded in (window.RecentKeys, keyed by window.id_key)
and the agent of each (window.RecentMap)."""

from __future__ import annotations

from telemetron_oracle_api.oracle.window import RecentKeys, RecentMap, id_key


def test_recent_keys_answer_seen_before_and_forget_the_oldest_first() -> None:
    recent = RecentKeys(3)
    assert [recent.add(k) for k in ("a", "b", "a", "c")] == [True, True, False, True]
    assert recent.add("d")  # past the limit: "a", the oldest, is forgotten
    assert "a" not in recent and all(k in recent for k in ("b", "c", "d"))
    assert len(recent) == 3
    assert recent.add("a")


def test_id_keys_tell_every_pair_of_fixed_length_hex_ids_apart_and_keep_other_ids_as_text() -> None:
    trace, span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    assert id_key(trace, span) == int(trace + span, 16)
    assert id_key(trace, span) != id_key(trace, "b7ad6b7169203332")
    assert id_key(trace.upper(), span) == id_key(trace, span)  # hex is hex, whatever its case
    assert id_key("trace-1", "span-1") == "trace-1span-1"


def test_a_recent_map_keeps_the_values_of_the_last_keys_put_and_forgets_the_oldest_first() -> None:
    agents = RecentMap(3)
    for key, agent in (("a", "planner"), ("b", "writer"), ("a", "critic"), ("c", "writer")):
        agents.put(key, agent)
    assert [agents.get(k) for k in "abc"] == ["critic", "writer", "writer"] and len(agents) == 3
    agents.put("d", "planner")  # past the limit: "a", the first put (a key put again keeps its place), goes
    assert [agents.get(k) for k in "abcd"] == [None, "writer", "writer", "planner"] and len(agents) == 3
