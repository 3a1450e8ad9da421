"""What a run builds: the plan from the served snapshot's inputs and the landing folder."""

import duckdb
from cim.publish.changes import UNMATCHED, Inputs, mark_published, plan_run, published_from

SERVED = "20261031T000000000000-abcdef12"


def plan_for(now, served, home, city, built_for=SERVED):
    """The plan for a warehouse the served snapshot was published from (``built_for``)."""
    return plan_run(now, served, home, city, served_id=SERVED, built_for=built_for)


def test_nothing_new_builds_nothing(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a", UNMATCHED: "u"})
    assert plan_for(served, served, home, demo_city).nothing


def test_changed_code_or_no_snapshot_builds_everything(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a"})
    assert plan_for(Inputs("other", "2026-10-31", served.feeds), served, home, demo_city).full
    assert plan_for(served, None, home, demo_city).full


def test_a_landed_file_or_a_changed_ledger_selects_its_feed_only(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a", "population": "p"})
    (home.landing / "politie_incidenten_2026-11.csv").write_text("x\n")
    plan = plan_for(served, served, home, demo_city)
    assert (plan.full, plan.feeds, plan.triage) == (False, ("police_incidents",), False)
    (home.landing / "politie_incidenten_2026-11.csv").unlink()
    withdrawn = Inputs("code", "2026-10-31", {"police_incidents": "a", "population": "q"})
    assert plan_for(withdrawn, served, home, demo_city).feeds == ("population",)


def test_a_new_day_rebuilds_feed_health_only_and_a_stray_file_the_triage(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a"})
    later = Inputs("code", "2026-11-01", served.feeds)
    assert plan_for(later, served, home, demo_city).day_only
    (home.landing / "notes.txt").write_text("?")
    plan = plan_for(served, served, home, demo_city)
    assert plan.triage and not plan.feeds and not plan.nothing


def test_a_warehouse_the_served_snapshot_was_not_published_from_builds_everything(
    home, demo_city, tmp_path
):
    # a new warehouse beside a snapshot copied in, or a rollback to an older snapshot
    served = Inputs("code", "2026-10-31", {"police_incidents": "a"})
    for built_for in (None, "20261030T000000000000-00000000"):
        result = plan_for(served, served, home, demo_city, built_for=built_for)
        assert result.full and "was not published from this warehouse" in result.reasons[0]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert published_from(con) is None
    mark_published(con, "one")
    mark_published(con, SERVED)
    assert published_from(con) == SERVED
    assert plan_for(served, served, home, demo_city, built_for=published_from(con)).nothing
