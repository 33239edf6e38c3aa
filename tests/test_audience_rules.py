"""The win-back audience rules file (winback/audiences.py, audiences.yml): the default file
loads, its segments are disjoint and cover every combination, and each mistake in a file gives
one line naming the file, the line and the key."""

import dataclasses
import itertools
from pathlib import Path

import pytest

from winback.audiences import (
    CAUSES,
    PATTERNS,
    RISK_TIERS,
    VALUE_TIERS,
    AudienceRulesError,
    ContactPolicy,
    Holdout,
    builtin_rules,
    default_rules_path,
    load_rules,
    match_segment,
    rules_for,
    segment_rows,
)
from winback.contract import SURVEY_REASONS

DEFAULT_TEXT = default_rules_path().read_text(encoding="utf-8")

MINIMAL = """\
sequences:
  basic:
    steps:
      - name: hello
        day: 0
      - name: nudge
        day: 5
        condition: not_opened
segments:
  everyone:
    track: diagnostic
    treatment: automated
    channel: email
    sequence: basic
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "audiences.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = _write(tmp_path, text)
    with pytest.raises(AudienceRulesError) as info:
        load_rules(path)
    message = str(info.value)
    assert "\n" not in message
    return path, message


def _edit(old: str, new: str, text: str = DEFAULT_TEXT) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _line(text: str, needle: str, after: str | None = None) -> int:
    """The 1-based line of the first line holding `needle` (after the first holding `after`)."""
    start = _line(text, after) if after else 0
    return next(n for n, line in enumerate(text.splitlines(), 1) if n > start and needle in line)


# ---------------------------------------------------------------------------------------------
# The default file


def test_the_default_file_loads_and_equals_the_builtin_rules():
    rules = load_rules(default_rules_path())
    assert rules.file == default_rules_path()
    assert dataclasses.replace(rules, file=None) == builtin_rules()
    assert [s.name for s in rules.segments] == [
        f"{track}_{tier}"
        for track in ("re_onboarding", "diagnostic", "trigger_addressing", "payment_fix")
        for tier in ("high", "mid", "low")
    ]
    assert [step.name for step in rules.sequences["winback_email"].steps] == [
        "we_miss_you",
        "survey",
        "incentive",
        "last_chance",
    ]
    assert [step.day for step in rules.sequences["winback_email"].steps] == [0, 5, 10, 15]
    assert rules.sequences["winback_email"].checkin_days == (7, 14, 30)
    assert rules.sequences["winback_email"].sunset_after_days == 14
    assert rules.policy == ContactPolicy()
    assert rules.holdout == Holdout(share=0.10, salt="winback-holdout-v1")
    assert set(rules.themes) == set(CAUSES)
    assert rules.eligible_states == ("at_risk", "dormant", "churned")


def test_the_default_segments_are_disjoint_and_cover_every_combination():
    rules = load_rules(default_rules_path())
    rows = segment_rows(rules)
    combinations = list(itertools.product(PATTERNS, VALUE_TIERS, CAUSES, RISK_TIERS))
    assert [row[:4] for row in rows] == combinations
    for row in rows:
        assert [s.name for s in rules.segments if s.matches(*row[:4])] == [row[4]]
    assert {row[4] for row in rows} == {s.name for s in rules.segments}


def test_causes_are_the_survey_reasons_and_none():
    assert (*SURVEY_REASONS, "none") == CAUSES


@pytest.mark.parametrize(
    ("combination", "segment", "treatment", "queue", "touch"),
    [
        (("never_activated", "high", None, None), "re_onboarding_high", "customer_success", "cs_winback", None),
        (("steady", "low", "price", "high"), "diagnostic_low", "automated", None, None),
        (("progressive_decline", "mid", "complexity", "medium"), "diagnostic_mid", "human_touch", None, "incentive"),
        (("abrupt_abandonment", "mid", "competitor", "low"), "trigger_addressing_mid", "human_touch", None, "incentive"),
        (("involuntary", "mid", "none", "unscored"), "payment_fix_mid", "human_touch", None, "reminder"),
    ],
)  # fmt: skip
def test_match_segment(combination, segment, treatment, queue, touch):
    found = match_segment(load_rules(default_rules_path()), *combination)
    assert (found.name, found.treatment, found.queue, found.human_touch_step) == (
        segment,
        treatment,
        queue,
        touch,
    )
    assert found.channel == "email"


def test_match_segment_refuses_a_value_outside_the_vocabulary():
    with pytest.raises(AudienceRulesError, match="unknown pattern 'stedy'.*did you mean 'steady'"):
        match_segment(builtin_rules(), "stedy", "low", None, None)


def test_rules_for_prefers_the_projects_own_file(tmp_path):
    assert rules_for(None).file == default_rules_path()
    assert rules_for(tmp_path).file == default_rules_path()
    own = _write(tmp_path, MINIMAL)
    rules = rules_for(tmp_path)
    assert rules.file == own.resolve()
    assert [s.name for s in rules.segments] == ["everyone"]


def test_omitted_keys_take_their_defaults(tmp_path):
    rules = load_rules(_write(tmp_path, MINIMAL))
    (segment,) = rules.segments
    assert (segment.patterns, segment.value_tiers, segment.causes, segment.risk_tiers) == (
        PATTERNS,
        VALUE_TIERS,
        CAUSES,
        RISK_TIERS,
    )
    hello, nudge = rules.sequences["basic"].steps
    assert (hello.condition, hello.channel, nudge.condition) == ("always", None, "not_opened")
    assert rules.sequences["basic"].checkin_days == (7, 14, 30)
    assert rules.sequences["basic"].sunset_after_days == 14
    assert rules.policy == builtin_rules().policy
    assert rules.holdout == builtin_rules().holdout
    assert rules.themes == builtin_rules().themes
    assert rules.eligible_states == ("at_risk", "dormant", "churned")


# ---------------------------------------------------------------------------------------------
# Mistakes: one line naming the file, the line and the key


def test_a_typo_in_a_key(tmp_path):
    text = _edit("  diagnostic_low:\n    patterns:", "  diagnostic_low:\n    patern:")
    path, message = _error(tmp_path, text)
    line = _line(text, "patern:")
    assert message == (
        f"{path} line {line}: segments.diagnostic_low.patern: unknown key 'patern' "
        "(did you mean 'patterns'?)"
    )


def test_a_typo_in_a_top_level_key(tmp_path):
    text = _edit("contact_policy:", "contact_polcy:")
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'contact_polcy:')}: contact_polcy: unknown key "
        "'contact_polcy' (did you mean 'contact_policy'?)"
    )


def test_an_unknown_pattern(tmp_path):
    text = _edit(
        "  re_onboarding_low:\n    patterns: [never_activated]",
        "  re_onboarding_low:\n    patterns: [never_activate]",
    )
    path, message = _error(tmp_path, text)
    line = _line(text, "[never_activate]")
    assert message.startswith(
        f"{path} line {line}: segments.re_onboarding_low.patterns: unknown pattern "
        "'never_activate' (did you mean 'never_activated'? allowed: never_activated, "
        "progressive_decline, abrupt_abandonment, involuntary, steady)"
    )


def test_an_unknown_channel(tmp_path):
    cut = DEFAULT_TEXT.index("  payment_fix_low:")
    text = DEFAULT_TEXT[:cut] + _edit("channel: email", "channel: emial", DEFAULT_TEXT[cut:])
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'emial')}: segments.payment_fix_low.channel: unknown channel "
        "'emial' (did you mean 'email'? allowed: email, sms, push)"
    )


def test_an_unknown_step_channel(tmp_path):
    text = _edit(
        "{name: reminder, day: 3, condition: always}", "{name: reminder, day: 3, channel: fax}"
    )
    path, message = _error(tmp_path, text)
    assert message.startswith(
        f"{path} line {_line(text, 'fax')}: sequences.payment_fix.steps[1].channel: unknown "
        "channel 'fax'"
    )


def test_overlapping_segments(tmp_path):
    text = _edit(
        "  diagnostic_low:\n    patterns: [progressive_decline, steady]\n    value_tiers: [low]",
        "  diagnostic_low:\n    patterns: [progressive_decline, steady]\n    value_tiers: [mid, low]",
    )
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'diagnostic_low:')}: segments.diagnostic_low: overlaps segment "
        f"'diagnostic_mid' (line {_line(text, 'diagnostic_mid:')}): both match "
        "pattern=progressive_decline, value_tier=mid, cause=complexity, risk_tier=high"
    )


def test_an_uncovered_combination(tmp_path):
    text = _edit(
        "  payment_fix_low:\n    patterns: [involuntary]\n",
        "  payment_fix_low:\n    patterns: [involuntary]\n    risk_tiers: [high, medium, low]\n",
    )
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'segments:')}: segments: no segment matches "
        "pattern=involuntary, value_tier=low, cause=complexity, risk_tier=unscored "
        "(nor 7 more combinations): every combination needs exactly one segment"
    )


def test_a_step_without_a_day(tmp_path):
    text = _edit(
        "{name: survey, day: 5, condition: not_opened}", "{name: survey, condition: not_opened}"
    )
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'name: survey')}: sequences.winback_email.steps[1].day: "
        "missing: every step needs a day (the days after the user entered the sequence, 0 first)"
    )


@pytest.mark.parametrize(
    ("old", "new", "needle", "expected"),
    [
        ("day: 5, condition", "day: -5, condition", "day: -5", "steps[1].day: must be >= 0, got -5"),
        ("day: 5, condition", "day: five, condition", "day: five", "steps[1].day: expected a whole number >= 0, got 'five'"),
        ("day: 5, condition", "day: 5.5, condition", "day: 5.5", "steps[1].day: expected a whole number >= 0, got 5.5"),
        ("day: 10, condition", "day: 5, condition", "name: incentive", "steps[2].day: day 5 is not after the previous step's day 5"),
        ("{name: we_miss_you, day: 0", "{name: we_miss_you, day: 1", "we_miss_you", "steps[0].day: the first step is on day 0, got 1"),
        ("name: survey, day: 5, condition: not_opened", "name: survey, day: 5, condition: unopened", "unopened", "steps[1].condition: unknown condition 'unopened'"),
        ("name: incentive,", "name: survey,", "name: survey, day: 10", "steps[2].name: duplicate step name 'survey'"),
    ],
)  # fmt: skip
def test_step_days_and_names(tmp_path, old, new, needle, expected):
    text = _edit(old, new)
    path, message = _error(tmp_path, text)
    assert message.startswith(
        f"{path} line {_line(text, needle)}: sequences.winback_email.{expected}"
    )


def test_a_human_touch_step_not_in_the_sequence(tmp_path):
    text = _edit("human_touch_step: incentive", "human_touch_step: guided_setup")
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'human_touch_step: guided_setup', after='diagnostic_mid:')}: "
        "segments.diagnostic_mid.human_touch_step: unknown step of sequence 'winback_email' "
        "'guided_setup' (allowed: we_miss_you, survey, incentive, last_chance)"
    )


def test_a_customer_success_segment_without_a_queue(tmp_path):
    text = _edit(
        "    treatment: customer_success\n    queue: cs_winback\n",
        "    treatment: customer_success\n",
    )
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 're_onboarding_high:')}: segments.re_onboarding_high.queue: "
        "missing: a customer_success segment names the queue that receives its tasks"
    )


def test_a_queue_on_an_automated_segment(tmp_path):
    text = _edit("    treatment: automated\n", "    treatment: automated\n    queue: cs_winback\n")
    path, message = _error(tmp_path, text)
    line = _line(text, "queue", after="re_onboarding_low:")
    assert message == (
        f"{path} line {line}: segments.re_onboarding_low.queue: only a customer_success "
        "segment has a queue (this one is automated)"
    )


def test_a_segment_naming_an_unknown_sequence(tmp_path):
    text = _edit("    sequence: payment_fix\n", "    sequence: payment_fixes\n")
    path, message = _error(tmp_path, text)
    assert message.startswith(
        f"{path} line {_line(text, 'payment_fixes')}: segments.payment_fix_high.sequence: "
        "unknown sequence 'payment_fixes' (did you mean 'payment_fix'?"
    )


def test_a_holdout_share_out_of_range(tmp_path):
    text = _edit("  share: 0.10", "  share: 0.7")
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'share: 0.7')}: holdout.share: a share from 0 up to "
        "(not including) 0.5, e.g. 0.10, got 0.7"
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("{channel: sms, max_messages: 1, per_days: 7}", "{channel: sms, max_messages: 0, per_days: 7}", "contact_policy.frequency_caps[2].max_messages: must be >= 1, got 0"),
        ("{channel: sms, max_messages: 1, per_days: 7}", "{channel: sms, max_messages: 1}", "contact_policy.frequency_caps[2].per_days: missing"),
        ("{channel: sms, max_messages: 1, per_days: 7}", "{channel: email, max_messages: 2, per_days: 7}", "contact_policy.frequency_caps[2]: a second email cap per 7 days"),
        ("  sunset_after_cycles: 2", "  sunset_after_cycles: 0", "contact_policy.sunset_after_cycles: must be >= 1, got 0"),
        ("  active_sequence_campaigns: []", "  active_sequence_campaigns: onboarding-", "contact_policy.active_sequence_campaigns: expected a list of campaign_id prefixes"),
        ("  salt: winback-holdout-v1", "  salt: ''", "holdout.salt: the salt must be a non-empty text"),
        ("  price: offer", "  prise: offer", "themes.prise: unknown key 'prise' (did you mean 'price'?)"),
        ("eligible_states: [at_risk, dormant, churned]", "eligible_states: [at_risk, sleeping]", "eligible_states: unknown state 'sleeping'"),
        ("version: 1", "version: 2", "version: must be 1, got 2"),
    ],
)  # fmt: skip
def test_policy_holdout_themes_and_states(tmp_path, old, new, expected):
    text = _edit(old, new)
    path, message = _error(tmp_path, text)
    assert message.startswith(f"{path} line {_line(text, new.strip())}: {expected}")


def test_a_duplicate_segment_name(tmp_path):
    block = DEFAULT_TEXT[DEFAULT_TEXT.index("  payment_fix_low:") :]
    text = DEFAULT_TEXT + block
    path, message = _error(tmp_path, text)
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line == "  payment_fix_low:"]
    assert message == (
        f"{path} line {lines[1]}: segments.payment_fix_low: duplicate key 'payment_fix_low' "
        f"(first at line {lines[0]})"
    )


def test_a_key_without_a_value(tmp_path):
    text = _edit("    track: diagnostic\n", "    track:\n", MINIMAL)
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line 11: segments.everyone.track: has no value (give one or remove the key)"
    )


def test_invalid_yaml(tmp_path):
    text = _edit("  share: 0.10", "  share: [0.10")
    path, message = _error(tmp_path, text)
    assert message.startswith(f"{path} line ")
    assert "not valid YAML" in message
    reported = int(message[len(f"{path} line ") :].split(":")[0])
    assert _line(text, "share: [0.10") <= reported <= _line(text, "share: [0.10") + 2


def test_an_empty_file_and_a_file_that_is_not_a_mapping(tmp_path):
    path, message = _error(tmp_path, "# nothing yet\n")
    assert message.startswith(f"{path} line 1: the file is empty")
    path, message = _error(tmp_path, "- segments\n- sequences\n")
    assert message.startswith(f"{path} line 1: expected a mapping with the keys version,")
    with pytest.raises(AudienceRulesError, match="no such rules file"):
        load_rules(tmp_path / "missing.yml")


def test_a_broken_rules_file_refuses_the_run_before_anything_is_written(tmp_path):
    """`winback run` on a project whose audiences.yml has a typo: exit 2, the line and the key,
    no warehouse touched (the command line checks the rules before ingesting anything)."""
    import dagster as dg

    from orchestration.runner import RunRefused, run_pipeline
    from winback.project import init_project
    from winback.settings import load_config

    project = init_project(tmp_path / "shop")
    rules = tmp_path / "shop" / "audiences.yml"
    assert rules.read_text() == default_rules_path().read_text()  # init wrote the default
    rules.write_text(rules.read_text().replace("    patterns:", "    patern:", 1))
    (tmp_path / "shop" / "landing" / "events").mkdir(parents=True)
    (tmp_path / "shop" / "landing" / "events" / "e.csv").write_text(
        "user_id,event_name,occurred_at\nu1,login,2025-01-02T10:00:00Z\n"
    )
    config = load_config({"project": str(project)})
    with pytest.raises(RunRefused) as refused:
        run_pipeline(config, instance=dg.DagsterInstance.ephemeral(), progress=lambda _: None)
    assert refused.value.exit_code == 2
    message = str(refused.value)
    assert "audiences.yml line " in message and ".patern: unknown key 'patern'" in message
    assert not config.warehouse.exists()


def test_the_measurement_section(tmp_path):
    rules = load_rules(_write(tmp_path, DEFAULT_TEXT))
    assert rules.measurement.reactivation_window_days == 14
    assert rules.measurement.durability_days == (30, 60, 90)
    assert rules.measurement.cost("customer_success") == 15.0
    text = _edit("  reactivation_window_days: 14", "  reactivation_window_days: 0")
    path, message = _error(tmp_path, text)
    assert message == (
        f"{path} line {_line(text, 'reactivation_window_days: 0')}: "
        "measurement.reactivation_window_days: must be >= 1, got 0"
    )
    text = _edit("  durability_days: [30, 60, 90]", "  durability_days: [60, 30]")
    path, message = _error(tmp_path, text)
    assert message.endswith("a non-empty list of increasing days, e.g. [30, 60, 90]")
    text = _edit("    sms: 0.03", "    smss: 0.03")
    path, message = _error(tmp_path, text)
    assert message.startswith(f"{path} line {_line(text, 'smss: 0.03')}: measurement.costs.smss")
    assert "did you mean 'sms'" in message
    text = _edit("    incentive: 5.0", "    incentive: -5")
    path, message = _error(tmp_path, text)
    assert message.endswith("measurement.costs.incentive: a cost >= 0 (a number), got -5")
