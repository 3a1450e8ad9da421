"""What a run builds: the plan from the served snapshot's inputs and the landing folder."""

from cim.publish.changes import UNMATCHED, Inputs, plan_run


def test_nothing_new_builds_nothing(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a", UNMATCHED: "u"})
    assert plan_run(served, served, home, demo_city).nothing


def test_changed_code_or_no_snapshot_builds_everything(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a"})
    assert plan_run(Inputs("other", "2026-10-31", served.feeds), served, home, demo_city).full
    assert plan_run(served, None, home, demo_city).full


def test_a_landed_file_or_a_changed_ledger_selects_its_feed_only(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a", "population": "p"})
    (home.landing / "politie_incidenten_2026-11.csv").write_text("x\n")
    plan = plan_run(served, served, home, demo_city)
    assert (plan.full, plan.feeds, plan.triage) == (False, ("police_incidents",), False)
    (home.landing / "politie_incidenten_2026-11.csv").unlink()
    withdrawn = Inputs("code", "2026-10-31", {"police_incidents": "a", "population": "q"})
    assert plan_run(withdrawn, served, home, demo_city).feeds == ("population",)


def test_a_new_day_rebuilds_feed_health_only_and_a_stray_file_the_triage(home, demo_city):
    served = Inputs("code", "2026-10-31", {"police_incidents": "a"})
    later = Inputs("code", "2026-11-01", served.feeds)
    assert plan_run(later, served, home, demo_city).day_only
    (home.landing / "notes.txt").write_text("?")
    plan = plan_run(served, served, home, demo_city)
    assert plan.triage and not plan.feeds and not plan.nothing
