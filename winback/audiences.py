"""The win-back audience rules: one readable file (`audiences.yml`) that says which segment an
at-risk or inactive user belongs to, the message sequence of each segment, the contact policy
and the holdout. The engine that builds the daily audience reads it through `rules_for`.

Everything in the file is checked when it is loaded, before anything runs; an error is one line
that names the file, the line and the key
(`audiences.yml line 14: segments.diagnostic_low.patern: unknown key 'patern' (did you mean
'patterns'?)`). docs/audiences.md describes every key.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from winback.contract import SURVEY_REASONS

RULES_FILE = "audiences.yml"
VERSION = 1

# The vocabularies a rule can name.
PATTERNS = (  # marts.user_disengagement_patterns.pattern
    "never_activated",
    "progressive_decline",
    "abrupt_abandonment",
    "involuntary",
    "steady",
)
VALUE_TIERS = ("high", "mid", "low")  # marts.users.value_tier
# the latest survey answer's reason_code (the contract's list); "none" = no survey answer
CAUSES = (*SURVEY_REASONS, "none")
RISK_TIERS = (
    "high",
    "medium",
    "low",
    "unscored",
)  # ml.churn_scores.risk_tier; "unscored" = no score
CHANNELS = ("email", "sms", "push")
TREATMENTS = ("automated", "human_touch", "customer_success")
TRACKS = ("re_onboarding", "diagnostic", "trigger_addressing", "payment_fix")
CONDITIONS = ("always", "not_opened")
STATES = (  # marts.user_daily_health.state
    "new",
    "current",
    "reactivated",
    "resurrected",
    "at_risk",
    "dormant",
    "churned",
)

DEFAULT_THEMES = {
    "complexity": "guided_training",
    "missing_feature": "new_features",
    "price": "offer",
    "competitor": "differentiation",
    "no_longer_needed": "pause_or_goodbye",
    "technical_issue": "fix_update",
    "other": "value_reminder",
    "none": "value_reminder",
}
DEFAULT_ELIGIBLE_STATES = ("at_risk", "dormant", "churned")
DEFAULT_CHECKIN_DAYS = (7, 14, 30)
DEFAULT_SUNSET_AFTER_DAYS = 14
DEFAULT_SUNSET_AFTER_CYCLES = 2
DEFAULT_ACTIVE_SEQUENCE_DAYS = 7
DEFAULT_HOLDOUT_SHARE = 0.10
DEFAULT_HOLDOUT_SALT = "winback-holdout-v1"
DEFAULT_REACTIVATION_WINDOW_DAYS = 14
DEFAULT_DURABILITY_DAYS = (30, 60, 90)
DEFAULT_REVENUE_WINDOW_DAYS = 90
# what one contact costs, in the revenue's currency: a message per channel, a customer-success
# task (the manager's time), an incentive step (the offer's cost, counted per send)
DEFAULT_COSTS = {
    "email": 0.002,
    "sms": 0.03,
    "push": 0.001,
    "customer_success": 15.0,
    "incentive": 5.0,
}
DEFAULT_INCENTIVE_STEPS = ("incentive",)

NAME = re.compile(r"[a-z0-9_]+")
TOP_LEVEL = (
    "version",
    "holdout",
    "contact_policy",
    "themes",
    "eligible_states",
    "sequences",
    "segments",
    "measurement",
)
SEQUENCE_KEYS = ("steps", "checkin_days", "sunset_after_days")
STEP_KEYS = ("name", "day", "condition", "channel")
SEGMENT_KEYS = (
    "patterns",
    "value_tiers",
    "causes",
    "risk_tiers",
    "track",
    "treatment",
    "channel",
    "sequence",
    "queue",
    "human_touch_step",
)
POLICY_KEYS = (
    "frequency_caps",
    "sunset_after_cycles",
    "active_sequence_campaigns",
    "active_sequence_days",
)
CAP_KEYS = ("channel", "max_messages", "per_days")
HOLDOUT_KEYS = ("share", "salt")
MEASUREMENT_KEYS = (
    "reactivation_window_days",
    "durability_days",
    "revenue_window_days",
    "costs",
    "incentive_steps",
)
COST_KEYS = tuple(DEFAULT_COSTS)
REQUIRED = {  # what a missing key is for
    "sequences": "the message sequences, by name (docs/audiences.md)",
    "segments": "the segments, by name, that cover every user (docs/audiences.md)",
    "steps": "a sequence needs at least one step",
    "name": "every step needs a name",
    "day": "every step needs a day (the days after the user entered the sequence, 0 first)",
    "track": "one of " + ", ".join(TRACKS),
    "treatment": "one of " + ", ".join(TREATMENTS),
    "channel": "one of " + ", ".join(CHANNELS),
    "sequence": "the name of one of the sequences",
    "max_messages": "the most messages a user gets in per_days days",
    "per_days": "the number of consecutive days max_messages counts over",
}
# segment key -> (vocabulary, what one value is called)
FILTERS = {
    "patterns": (PATTERNS, "pattern"),
    "value_tiers": (VALUE_TIERS, "value tier"),
    "causes": (CAUSES, "cause"),
    "risk_tiers": (RISK_TIERS, "risk tier"),
}


class AudienceRulesError(ValueError):
    """The rules cannot be used; the message is one line naming the file, line and key."""


@dataclass(frozen=True)
class Step:
    name: str  # unique within its sequence, [a-z0-9_]+
    day: int  # days after the user entered the sequence, >= 0, strictly increasing
    condition: str  # one of CONDITIONS
    channel: str | None  # None: the segment's channel


@dataclass(frozen=True)
class Sequence:
    name: str
    steps: tuple[Step, ...]  # at least one; the first on day 0
    checkin_days: tuple[int, ...]  # after reactivation; strictly increasing, > 0
    sunset_after_days: int  # no response this long after the last step: the cycle failed

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


@dataclass(frozen=True)
class Segment:
    name: str
    patterns: tuple[str, ...]  # subsets of the vocabularies, in their order
    value_tiers: tuple[str, ...]
    causes: tuple[str, ...]
    risk_tiers: tuple[str, ...]
    track: str
    treatment: str
    channel: str  # for customer_success: the channel of the automated fallback
    sequence: str
    queue: str | None  # customer_success only
    human_touch_step: str | None  # human_touch only

    def matches(self, pattern: str, value_tier: str, cause: str, risk_tier: str) -> bool:
        return (
            pattern in self.patterns
            and value_tier in self.value_tiers
            and cause in self.causes
            and risk_tier in self.risk_tiers
        )


@dataclass(frozen=True)
class FrequencyCap:
    channel: str
    max_messages: (
        int  # at most this many in any `per_days` consecutive days (today's send included)
    )
    per_days: int


DEFAULT_FREQUENCY_CAPS = (
    FrequencyCap("email", 1, 2),
    FrequencyCap("email", 3, 7),
    FrequencyCap("sms", 1, 7),
    FrequencyCap("push", 1, 2),
)


@dataclass(frozen=True)
class ContactPolicy:
    frequency_caps: tuple[FrequencyCap, ...] = DEFAULT_FREQUENCY_CAPS
    sunset_after_cycles: int = DEFAULT_SUNSET_AFTER_CYCLES
    active_sequence_campaigns: tuple[str, ...] = ()  # campaign_id prefixes of other sequences
    active_sequence_days: int = DEFAULT_ACTIVE_SEQUENCE_DAYS


@dataclass(frozen=True)
class Holdout:
    share: float = DEFAULT_HOLDOUT_SHARE
    salt: str = DEFAULT_HOLDOUT_SALT


@dataclass(frozen=True)
class Measurement:
    """How campaigns are measured (docs/campaigns.md): a user reactivates when active within
    `reactivation_window_days` after a send (or, in the holdout, the day it would have been);
    durability looks `durability_days` after that; revenue over `revenue_window_days`."""

    reactivation_window_days: int = DEFAULT_REACTIVATION_WINDOW_DAYS
    durability_days: tuple[int, ...] = DEFAULT_DURABILITY_DAYS
    revenue_window_days: int = DEFAULT_REVENUE_WINDOW_DAYS
    costs: tuple[tuple[str, float], ...] = tuple(DEFAULT_COSTS.items())
    incentive_steps: tuple[str, ...] = DEFAULT_INCENTIVE_STEPS

    def cost(self, what: str) -> float:
        return dict(self.costs)[what]


@dataclass(frozen=True)
class AudienceRules:
    file: Path | None  # None for the built-in defaults
    segments: tuple[Segment, ...]
    sequences: dict[str, Sequence]
    policy: ContactPolicy
    holdout: Holdout
    themes: dict[str, str]  # every cause -> message theme
    eligible_states: tuple[str, ...]
    measurement: Measurement = Measurement()


# ---------------------------------------------------------------------------------------------
# Where the rules come from


def default_rules_path() -> Path:
    """The default rules, `audiences.yml` at the root of the repository."""
    return Path(__file__).resolve().parent.parent / RULES_FILE


def rules_for(project_root: Path | None) -> AudienceRules:
    """The project's `audiences.yml` when it has one, else the default file."""
    if project_root is not None:
        own = Path(project_root).expanduser() / RULES_FILE
        if own.is_file():
            return load_rules(own)
    return load_rules(default_rules_path())


def load_rules(path: str | Path) -> AudienceRules:
    shown = str(path)
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise AudienceRulesError(f"{shown}: no such rules file (docs/audiences.md)")
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
    except UnicodeDecodeError as exc:
        raise AudienceRulesError(f"{shown} line 1: not UTF-8 text: {exc.reason}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise AudienceRulesError(f"{shown} line {line}: not valid YAML: {problem}") from None
    return _Parser(shown).rules(data, file)


def builtin_rules() -> AudienceRules:
    """The same rules as the default `audiences.yml`, built in code (`file` is None)."""
    sequences = {
        "winback_email": Sequence(
            "winback_email",
            (
                Step("we_miss_you", 0, "always", None),
                Step("survey", 5, "not_opened", None),
                Step("incentive", 10, "not_opened", None),
                Step("last_chance", 15, "not_opened", None),
            ),
            DEFAULT_CHECKIN_DAYS,
            DEFAULT_SUNSET_AFTER_DAYS,
        ),
        "re_onboarding": Sequence(
            "re_onboarding",
            (
                Step("first_quick_win", 0, "always", None),
                Step("guided_setup", 4, "not_opened", None),
                Step("last_chance", 10, "not_opened", None),
            ),
            DEFAULT_CHECKIN_DAYS,
            DEFAULT_SUNSET_AFTER_DAYS,
        ),
        "payment_fix": Sequence(
            "payment_fix",
            (
                Step("update_payment", 0, "always", None),
                Step("reminder", 3, "always", None),
                Step("last_notice", 7, "always", None),
            ),
            DEFAULT_CHECKIN_DAYS,
            DEFAULT_SUNSET_AFTER_DAYS,
        ),
    }
    tracks = (  # track, its patterns, its sequence, the step of the human touch
        ("re_onboarding", ("never_activated",), "re_onboarding", "guided_setup"),
        ("diagnostic", ("progressive_decline", "steady"), "winback_email", "incentive"),
        ("trigger_addressing", ("abrupt_abandonment",), "winback_email", "incentive"),
        ("payment_fix", ("involuntary",), "payment_fix", "reminder"),
    )
    treatments = (("high", "customer_success"), ("mid", "human_touch"), ("low", "automated"))
    segments = tuple(
        Segment(
            name=f"{track}_{tier}",
            patterns=patterns,
            value_tiers=(tier,),
            causes=CAUSES,
            risk_tiers=RISK_TIERS,
            track=track,
            treatment=treatment,
            channel="email",
            sequence=sequence,
            queue="cs_winback" if treatment == "customer_success" else None,
            human_touch_step=touch if treatment == "human_touch" else None,
        )
        for track, patterns, sequence, touch in tracks
        for tier, treatment in treatments
    )
    return AudienceRules(
        file=None,
        segments=segments,
        sequences=sequences,
        policy=ContactPolicy(),
        holdout=Holdout(),
        themes=dict(DEFAULT_THEMES),
        eligible_states=DEFAULT_ELIGIBLE_STATES,
    )


# ---------------------------------------------------------------------------------------------
# Segments


def match_segment(
    rules: AudienceRules,
    pattern: str,
    value_tier: str,
    cause: str | None,
    risk_tier: str | None,
) -> Segment:
    """The one segment of a user (cause None: no survey answer; risk_tier None: no score)."""
    cause = "none" if cause is None else cause
    risk_tier = "unscored" if risk_tier is None else risk_tier
    where = rules.file or "built-in rules"
    for value, vocabulary, what in (
        (pattern, PATTERNS, "pattern"),
        (value_tier, VALUE_TIERS, "value tier"),
        (cause, CAUSES, "cause"),
        (risk_tier, RISK_TIERS, "risk tier"),
    ):
        if value not in vocabulary:
            raise AudienceRulesError(f"{where}: {_unknown_value(value, vocabulary, what)}")
    for segment in rules.segments:
        if segment.matches(pattern, value_tier, cause, risk_tier):
            return segment
    raise AudienceRulesError(
        f"{where}: no segment matches {_combination((pattern, value_tier, cause, risk_tier))}"
    )


def segment_rows(rules: AudienceRules) -> list[tuple[str, str, str, str, str]]:
    """(pattern, value_tier, cause, risk_tier, segment) for every combination, in the
    vocabularies' order: the table the engine joins users against."""
    return [
        (*combination, match_segment(rules, *combination).name)
        for combination in itertools.product(PATTERNS, VALUE_TIERS, CAUSES, RISK_TIERS)
    ]


def _combination(values: tuple[str, str, str, str]) -> str:
    names = ("pattern", "value_tier", "cause", "risk_tier")
    return ", ".join(f"{name}={value}" for name, value in zip(names, values, strict=True))


# ---------------------------------------------------------------------------------------------
# YAML with the line of every key and item


class _Map(dict):
    line: int  # of the mapping's first key
    key_lines: dict[Any, int]
    duplicates: list[tuple[Any, int, int]]  # key, its line, the line of its first occurrence


class _List(list):
    line: int
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode):
    data = _Map()
    data.line, data.key_lines, data.duplicates = node.start_mark.line + 1, {}, []
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            key = str(key)
        if key in data:
            data.duplicates.append((key, line, data.key_lines[key]))
            continue
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = line


def _construct_list(loader: _Loader, node: yaml.SequenceNode):
    data = _List()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item, deep=True) for item in node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_list)


# ---------------------------------------------------------------------------------------------
# Validation


def _kind(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value; quote it for a text)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _did_you_mean(word, allowed) -> str:
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _unknown_value(value, vocabulary, what: str) -> str:
    hint = _did_you_mean(value, vocabulary)
    return (
        f"unknown {what} {value!r} ({hint + ' ' if hint else ''}allowed: {', '.join(vocabulary)})"
    )


class _Parser:
    def __init__(self, shown: str):
        self.shown = shown

    def fail(self, line: int, path: str, message: str) -> NoReturn:
        raise AudienceRulesError(f"{self.shown} line {line}: {path}: {message}")

    # -- building blocks ------------------------------------------------------------------

    def mapping(self, value, line: int, path: str, expected: str) -> _Map:
        if not isinstance(value, _Map):
            self.fail(line, path, f"expected {expected}, got {_kind(value)}")
        return value

    def keys(self, m: _Map, line: int, path: str, allowed, required=()) -> None:
        for key, key_line, first in m.duplicates:
            self.fail(key_line, _join(path, key), f"duplicate key '{key}' (first at line {first})")
        for key in m:
            if key not in allowed:
                hint = _did_you_mean(key, allowed)
                self.fail(
                    m.key_lines[key],
                    _join(path, key),
                    f"unknown key {key!r} "
                    + (f"({hint})" if hint else f"(the keys are {', '.join(allowed)})"),
                )
            if m[key] is None:
                self.fail(
                    m.key_lines[key], _join(path, key), "has no value (give one or remove the key)"
                )
        for key in required:
            if key not in m:
                self.fail(line, _join(path, key), f"missing: {REQUIRED[key]}")

    def items(self, value, line: int, path: str, expected: str) -> list[tuple[Any, int]]:
        if not isinstance(value, _List):
            self.fail(line, path, f"expected a list of {expected}, got {_kind(value)}")
        return list(zip(value, value.item_lines, strict=True))

    def integer(self, value, line: int, path: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(line, path, f"expected a whole number >= {minimum}, got {_kind(value)}")
        if value < minimum:
            self.fail(line, path, f"must be >= {minimum}, got {value}")
        return value

    def name(self, value, line: int, path: str, what: str) -> str:
        if not isinstance(value, str) or not NAME.fullmatch(value):
            self.fail(
                line,
                path,
                f"{what} must be lower-case letters, digits and _, got {_kind(value)}",
            )
        return value

    def text(self, value, line: int, path: str, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(line, path, f"{what} must be a non-empty text, got {_kind(value)}")
        return value

    def choice(self, value, line: int, path: str, vocabulary, what: str) -> str:
        if isinstance(value, bool) or value not in vocabulary:
            self.fail(line, path, _unknown_value(value, vocabulary, what))
        return value

    def choices(self, value, line: int, path: str, vocabulary, what: str) -> tuple[str, ...]:
        """A non-empty list of vocabulary values (one value alone may be written without a
        list), in the vocabulary's order."""
        items = [(value, line)] if isinstance(value, str) else self.items(value, line, path, what)
        if not items:
            self.fail(line, path, f"empty list (omit the key for every {what})")
        seen: dict[str, int] = {}
        for item, item_line in items:
            self.choice(item, item_line, path, vocabulary, what)
            if item in seen:
                self.fail(item_line, path, f"{item!r} listed twice (first at line {seen[item]})")
            seen[item] = item_line
        return tuple(v for v in vocabulary if v in seen)

    # -- the file ---------------------------------------------------------------------------

    def rules(self, data, file: Path) -> AudienceRules:
        if data is None:
            raise AudienceRulesError(
                f"{self.shown} line 1: the file is empty: it needs at least sequences and "
                "segments (docs/audiences.md)"
            )
        if not isinstance(data, _Map):
            raise AudienceRulesError(
                f"{self.shown} line 1: expected a mapping with the keys {', '.join(TOP_LEVEL)}, "
                f"got {_kind(data)}"
            )
        self.keys(data, 1, "", TOP_LEVEL, required=("sequences", "segments"))
        lines = data.key_lines
        if "version" in data and (isinstance(data["version"], bool) or data["version"] != VERSION):
            self.fail(
                lines["version"], "version", f"must be {VERSION}, got {_kind(data['version'])}"
            )
        sequences = self.sequences(data["sequences"], lines["sequences"])
        segments = self.segments(data["segments"], lines["segments"], sequences)
        return AudienceRules(
            file=file,
            segments=segments,
            sequences=sequences,
            policy=self.policy(data.get("contact_policy"), lines.get("contact_policy", 1)),
            holdout=self.holdout(data.get("holdout"), lines.get("holdout", 1)),
            themes=self.themes(data.get("themes"), lines.get("themes", 1)),
            eligible_states=self.eligible_states(
                data.get("eligible_states"), lines.get("eligible_states", 1)
            ),
            measurement=self.measurement(data.get("measurement"), lines.get("measurement", 1)),
        )

    def sequences(self, value, line: int) -> dict[str, Sequence]:
        m = self.mapping(value, line, "sequences", "one block per sequence, by name")
        self.keys(m, line, "sequences", list(m))
        if not m:
            self.fail(line, "sequences", "no sequence: define at least one")
        sequences = {}
        for name, block in m.items():
            key_line, path = m.key_lines[name], f"sequences.{name}"
            self.name(name, key_line, path, "a sequence name")
            sequences[name] = self.sequence(name, block, key_line, path)
        return sequences

    def sequence(self, name: str, value, line: int, path: str) -> Sequence:
        m = self.mapping(value, line, path, "the keys " + ", ".join(SEQUENCE_KEYS))
        self.keys(m, line, path, SEQUENCE_KEYS, required=("steps",))
        items = self.items(m["steps"], m.key_lines["steps"], f"{path}.steps", "steps")
        if not items:
            self.fail(
                m.key_lines["steps"], f"{path}.steps", "no step: a sequence needs at least one"
            )
        steps: list[Step] = []
        first_line: dict[str, int] = {}
        for index, (item, item_line) in enumerate(items):
            step_path = f"{path}.steps[{index}]"
            step = self.step(item, item_line, step_path)
            if step.name in first_line:
                self.fail(
                    item_line,
                    f"{step_path}.name",
                    f"duplicate step name {step.name!r} (first at line {first_line[step.name]})",
                )
            first_line[step.name] = item_line
            if index == 0 and step.day != 0:
                self.fail(
                    item_line, f"{step_path}.day", f"the first step is on day 0, got {step.day}"
                )
            if steps and step.day <= steps[-1].day:
                self.fail(
                    item_line,
                    f"{step_path}.day",
                    f"day {step.day} is not after the previous step's day {steps[-1].day} "
                    "(steps are listed in the order of their days)",
                )
            steps.append(step)
        checkin_days = DEFAULT_CHECKIN_DAYS
        if "checkin_days" in m:
            days_path, days_line = f"{path}.checkin_days", m.key_lines["checkin_days"]
            days: list[int] = []
            for day, day_line in self.items(m["checkin_days"], days_line, days_path, "days"):
                self.integer(day, day_line, days_path, 1)
                if days and day <= days[-1]:
                    self.fail(
                        day_line, days_path, f"day {day} is not after {days[-1]} (increasing days)"
                    )
                days.append(day)
            checkin_days = tuple(days)
        sunset = DEFAULT_SUNSET_AFTER_DAYS
        if "sunset_after_days" in m:
            sunset = self.integer(
                m["sunset_after_days"],
                m.key_lines["sunset_after_days"],
                f"{path}.sunset_after_days",
                1,
            )
        return Sequence(name, tuple(steps), checkin_days, sunset)

    def step(self, value, line: int, path: str) -> Step:
        m = self.mapping(value, line, path, "a step with name and day (and condition, channel)")
        self.keys(m, line, path, STEP_KEYS, required=("name", "day"))
        lines = m.key_lines
        return Step(
            name=self.name(m["name"], lines["name"], f"{path}.name", "a step name"),
            day=self.integer(m["day"], lines["day"], f"{path}.day", 0),
            condition=self.choice(
                m.get("condition", "always"),
                lines.get("condition", line),
                f"{path}.condition",
                CONDITIONS,
                "condition",
            ),
            channel=(
                self.choice(m["channel"], lines["channel"], f"{path}.channel", CHANNELS, "channel")
                if "channel" in m
                else None
            ),
        )

    def segments(self, value, line: int, sequences: dict[str, Sequence]) -> tuple[Segment, ...]:
        m = self.mapping(value, line, "segments", "one block per segment, by name")
        self.keys(m, line, "segments", list(m))
        if not m:
            self.fail(line, "segments", "no segment: define segments that cover every user")
        segments = []
        for name, block in m.items():
            key_line, path = m.key_lines[name], f"segments.{name}"
            self.name(name, key_line, path, "a segment name")
            segments.append(self.segment(name, block, key_line, path, sequences))
        for later, segment in enumerate(segments):  # disjoint
            for earlier in segments[:later]:
                shared = [
                    next((v for v in getattr(earlier, key) if v in getattr(segment, key)), None)
                    for key in FILTERS
                ]
                if None not in shared:
                    self.fail(
                        m.key_lines[segment.name],
                        f"segments.{segment.name}",
                        f"overlaps segment {earlier.name!r} (line {m.key_lines[earlier.name]}): "
                        f"both match {_combination(tuple(shared))}",
                    )
        uncovered = [
            combination
            for combination in itertools.product(PATTERNS, VALUE_TIERS, CAUSES, RISK_TIERS)
            if not any(segment.matches(*combination) for segment in segments)
        ]
        if uncovered:
            self.fail(
                line,
                "segments",
                f"no segment matches {_combination(uncovered[0])}"
                + (f" (nor {len(uncovered) - 1} more combinations)" if len(uncovered) > 1 else "")
                + ": every combination needs exactly one segment",
            )
        return tuple(segments)

    def segment(
        self, name: str, value, line: int, path: str, sequences: dict[str, Sequence]
    ) -> Segment:
        m = self.mapping(value, line, path, "the keys " + ", ".join(SEGMENT_KEYS))
        self.keys(
            m, line, path, SEGMENT_KEYS, required=("track", "treatment", "channel", "sequence")
        )
        lines = m.key_lines
        filters = {
            key: (
                self.choices(m[key], lines[key], f"{path}.{key}", vocabulary, what)
                if key in m
                else vocabulary
            )
            for key, (vocabulary, what) in FILTERS.items()
        }
        track = self.choice(m["track"], lines["track"], f"{path}.track", TRACKS, "track")
        treatment = self.choice(
            m["treatment"], lines["treatment"], f"{path}.treatment", TREATMENTS, "treatment"
        )
        channel = self.choice(
            m["channel"], lines["channel"], f"{path}.channel", CHANNELS, "channel"
        )
        sequence = m["sequence"]
        if not isinstance(sequence, str) or sequence not in sequences:
            self.fail(
                lines["sequence"],
                f"{path}.sequence",
                _unknown_value(sequence, tuple(sequences), "sequence"),
            )
        queue = None
        if treatment == "customer_success":
            if "queue" not in m:
                self.fail(
                    line,
                    f"{path}.queue",
                    "missing: a customer_success segment names the queue that receives its tasks",
                )
            queue = self.text(m["queue"], lines["queue"], f"{path}.queue", "a queue")
        elif "queue" in m:
            self.fail(
                lines["queue"],
                f"{path}.queue",
                f"only a customer_success segment has a queue (this one is {treatment})",
            )
        touch = None
        if treatment == "human_touch":
            if "human_touch_step" not in m:
                self.fail(
                    line,
                    f"{path}.human_touch_step",
                    f"missing: a human_touch segment names the step of {sequence!r} that a "
                    "person handles",
                )
            touch = m["human_touch_step"]
            steps = tuple(step.name for step in sequences[sequence].steps)
            if touch not in steps:
                self.fail(
                    lines["human_touch_step"],
                    f"{path}.human_touch_step",
                    _unknown_value(touch, steps, f"step of sequence {sequence!r}"),
                )
        elif "human_touch_step" in m:
            self.fail(
                lines["human_touch_step"],
                f"{path}.human_touch_step",
                f"only a human_touch segment has a human_touch_step (this one is {treatment})",
            )
        return Segment(
            name=name,
            **filters,
            track=track,
            treatment=treatment,
            channel=channel,
            sequence=sequence,
            queue=queue,
            human_touch_step=touch,
        )

    def policy(self, value, line: int) -> ContactPolicy:
        if value is None:
            return ContactPolicy()
        path = "contact_policy"
        m = self.mapping(value, line, path, "the keys " + ", ".join(POLICY_KEYS))
        self.keys(m, line, path, POLICY_KEYS)
        lines = m.key_lines
        caps = DEFAULT_FREQUENCY_CAPS
        if "frequency_caps" in m:
            found: list[FrequencyCap] = []
            first_line: dict[tuple[str, int], int] = {}
            items = self.items(
                m["frequency_caps"], lines["frequency_caps"], f"{path}.frequency_caps", "caps"
            )
            for index, (item, item_line) in enumerate(items):
                cap_path = f"{path}.frequency_caps[{index}]"
                cap_map = self.mapping(item, item_line, cap_path, "channel, max_messages, per_days")
                self.keys(cap_map, item_line, cap_path, CAP_KEYS, required=CAP_KEYS)
                cap_lines = cap_map.key_lines
                cap = FrequencyCap(
                    channel=self.choice(
                        cap_map["channel"],
                        cap_lines["channel"],
                        f"{cap_path}.channel",
                        CHANNELS,
                        "channel",
                    ),
                    max_messages=self.integer(
                        cap_map["max_messages"],
                        cap_lines["max_messages"],
                        f"{cap_path}.max_messages",
                        1,
                    ),
                    per_days=self.integer(
                        cap_map["per_days"], cap_lines["per_days"], f"{cap_path}.per_days", 1
                    ),
                )
                key = (cap.channel, cap.per_days)
                if key in first_line:
                    self.fail(
                        item_line,
                        cap_path,
                        f"a second {cap.channel} cap per {cap.per_days} days "
                        f"(first at line {first_line[key]})",
                    )
                first_line[key] = item_line
                found.append(cap)
            caps = tuple(found)
        campaigns: tuple[str, ...] = ()
        if "active_sequence_campaigns" in m:
            campaigns_path = f"{path}.active_sequence_campaigns"
            campaigns = tuple(
                self.text(item, item_line, campaigns_path, "a campaign_id prefix")
                for item, item_line in self.items(
                    m["active_sequence_campaigns"],
                    lines["active_sequence_campaigns"],
                    campaigns_path,
                    "campaign_id prefixes",
                )
            )
        return ContactPolicy(
            frequency_caps=caps,
            sunset_after_cycles=self.integer(
                m.get("sunset_after_cycles", DEFAULT_SUNSET_AFTER_CYCLES),
                lines.get("sunset_after_cycles", line),
                f"{path}.sunset_after_cycles",
                1,
            ),
            active_sequence_campaigns=campaigns,
            active_sequence_days=self.integer(
                m.get("active_sequence_days", DEFAULT_ACTIVE_SEQUENCE_DAYS),
                lines.get("active_sequence_days", line),
                f"{path}.active_sequence_days",
                1,
            ),
        )

    def holdout(self, value, line: int) -> Holdout:
        if value is None:
            return Holdout()
        m = self.mapping(value, line, "holdout", "the keys share, salt")
        self.keys(m, line, "holdout", HOLDOUT_KEYS)
        share = m.get("share", DEFAULT_HOLDOUT_SHARE)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 0.5:
            self.fail(
                m.key_lines.get("share", line),
                "holdout.share",
                f"a share from 0 up to (not including) 0.5, e.g. 0.10, got {_kind(share)}",
            )
        salt = m.get("salt", DEFAULT_HOLDOUT_SALT)
        self.text(salt, m.key_lines.get("salt", line), "holdout.salt", "the salt")
        return Holdout(share=float(share), salt=salt)

    def measurement(self, value, line: int) -> Measurement:
        if value is None:
            return Measurement()
        path = "measurement"
        m = self.mapping(value, line, path, "the keys " + ", ".join(MEASUREMENT_KEYS))
        self.keys(m, line, path, MEASUREMENT_KEYS)
        at = m.key_lines.get
        window = self.integer(
            m.get("reactivation_window_days", DEFAULT_REACTIVATION_WINDOW_DAYS),
            at("reactivation_window_days", line),
            f"{path}.reactivation_window_days",
            1,
        )
        revenue = self.integer(
            m.get("revenue_window_days", DEFAULT_REVENUE_WINDOW_DAYS),
            at("revenue_window_days", line),
            f"{path}.revenue_window_days",
            1,
        )
        durability = DEFAULT_DURABILITY_DAYS
        if "durability_days" in m:
            items = self.items(
                m["durability_days"], at("durability_days"), f"{path}.durability_days", "days"
            )
            durability = tuple(
                self.integer(v, item_line, f"{path}.durability_days", 1) for v, item_line in items
            )
            if not durability or list(durability) != sorted(set(durability)):
                self.fail(
                    at("durability_days"),
                    f"{path}.durability_days",
                    "a non-empty list of increasing days, e.g. [30, 60, 90]",
                )
        costs = dict(DEFAULT_COSTS)
        if "costs" in m:
            c = self.mapping(m["costs"], at("costs"), f"{path}.costs", "what: cost pairs")
            self.keys(c, at("costs"), f"{path}.costs", COST_KEYS)
            for what, cost in c.items():
                if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
                    self.fail(
                        c.key_lines[what],
                        f"{path}.costs.{what}",
                        f"a cost >= 0 (a number), got {_kind(cost)}",
                    )
                costs[what] = float(cost)
        steps = DEFAULT_INCENTIVE_STEPS
        if "incentive_steps" in m:
            items = self.items(
                m["incentive_steps"], at("incentive_steps"), f"{path}.incentive_steps", "steps"
            )
            steps = tuple(
                self.name(v, item_line, f"{path}.incentive_steps", "a step name")
                for v, item_line in items
            )
        return Measurement(window, durability, revenue, tuple(costs.items()), steps)

    def themes(self, value, line: int) -> dict[str, str]:
        themes = dict(DEFAULT_THEMES)
        if value is None:
            return themes
        m = self.mapping(value, line, "themes", "cause: theme pairs")
        self.keys(m, line, "themes", CAUSES)
        for cause, theme in m.items():
            themes[cause] = self.name(theme, m.key_lines[cause], f"themes.{cause}", "a theme")
        return themes

    def eligible_states(self, value, line: int) -> tuple[str, ...]:
        if value is None:
            return DEFAULT_ELIGIBLE_STATES
        return self.choices(value, line, "eligible_states", STATES, "state")
