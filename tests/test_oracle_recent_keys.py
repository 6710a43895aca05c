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


def test_a_recent_map_keeps_at_least_the_last_keys_put_and_forgets_the_oldest_first() -> None:
    agents = RecentMap(4, generations=2)  # two keys a generation, three generations kept
    for key in "abcde":
        agents.put(key, f"agent-{key}")
    assert [agents.get(k) for k in "abcde"] == [f"agent-{k}" for k in "abcde"]
    agents.put("a", "critic")  # put again: the newer value, kept with the newest keys
    agents.put("f", "writer")  # a fourth generation starts: the oldest ("a", "b") goes whole
    assert agents.get("b") is None
    assert [agents.get(k) for k in "acdef"] == ["critic", "agent-c", "agent-d", "agent-e", "writer"]
    for key in "ghij":  # the last four keys stay, and "f", in the generation before them
        agents.put(key, f"agent-{key}")
    assert [k for k in "abcdefghij" if agents.get(k)] == ["f", "g", "h", "i", "j"]
    assert len(agents) == 5


def test_a_recent_map_of_many_keys_holds_between_limit_and_a_generation_more() -> None:
    agents = RecentMap(1000, generations=8)
    for key in range(10_000):
        agents.put(key, "planner")
        assert min(key + 1, 1000) <= len(agents) <= 1000 + 125
    assert all(agents.get(key) == "planner" for key in range(9000, 10_000))
    assert agents.get(8000) is None
