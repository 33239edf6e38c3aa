"""The generator's vocabulary: what it draws from and in which proportions.

The names the pipeline checks (message and billing events, survey reasons) and the archetypes
(the disengagement patterns) come from `winback.contract` and `winback.disengagement`; the rest
(event names, plans, countries, the shares, the dirty row kinds) exists only in the demo.
"""

from __future__ import annotations

from winback.contract import BILLING_EVENTS, MESSAGE_EVENTS
from winback.disengagement import PATTERNS

# the latent archetypes are the disengagement patterns the marts look for, name for name (the
# evaluation compares them); the codes and the per-archetype tables below follow this order
ARCHETYPES = PATTERNS
STEADY, DECLINE, ABRUPT, NEVER, INVOLUNTARY = range(len(ARCHETYPES))
ARCHETYPE_SHARES = (0.40, 0.18, 0.15, 0.17, 0.10)
# share of "daily" (vs "weekly") users per archetype; decliners and abandoners start as heavy
# users, and a good half of the users who stay are daily users (the retained base is not only
# light users: low activity is a churn signal, DOMAIN.md)
DAILY_SHARE = (0.55, 1.0, 1.0, 0.0, 0.3)

EVENT_NAMES = (
    "session_start",
    "view_dashboard",
    "create_report",
    "share_report",
    "export_data",
    "configure_integration",
    "invite_teammate",
    "api_call",
    "view_help",
    "purchase",
)
SESSION, CORE0, ADVANCED0, HELP, PURCHASE = 0, 1, 4, 8, 9
CORE_WEIGHTS = (0.6, 0.28, 0.12)  # view_dashboard, create_report, share_report

PLATFORMS = ("web", "ios", "android")
PLATFORM_SHARES = (0.55, 0.27, 0.18)
SOURCES = ("direct", "email", "push", "search", "referral")
SOURCE_SHARES = (0.55, 0.15, 0.1, 0.12, 0.08)

PLANS = ("free", "pro", "enterprise")
PLAN_PRICES = (0, 29, 199)
PLAN_SHARES = (0.65, 0.28, 0.07)
INVOLUNTARY_PAID_SHARES = (0.0, 0.8, 0.2)

COUNTRIES = ("US", "FR", "DE", "GB", "ES", "CA", "BR", "IN")
COUNTRY_SHARES = (0.34, 0.16, 0.12, 0.11, 0.07, 0.07, 0.07, 0.06)
# ~5% of event timestamps carry a local offset instead of "Z" (the same instant)
OFFSETS = ("Z", "-05:00", "+01:00", "+02:00", "-04:00", "-03:00", "+05:30")
OFFSET_MINUTES = (0, -300, 60, 120, -240, -180, 330)
# the offset a client in each country sends when it reports local time (index into OFFSETS)
COUNTRY_OFFSET = (1, 2, 3, 2, 3, 4, 5, 6)  # US FR DE GB ES CA BR IN
NON_UTC_SHARE = 0.05

ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "referral", "partner")
ACQUISITION_SHARES = (0.38, 0.24, 0.16, 0.14, 0.08)

DIRTY_KINDS = (
    "missing_user_id",
    "bad_timestamp",
    "future_timestamp",
    "duplicate",
    "odd_case_name",
    "bad_properties",
)
DIRTY_RULES = {
    "missing_user_id": "user_id_not_null",
    "bad_timestamp": "occurred_at_is_timestamp",
    "future_timestamp": "occurred_at_not_in_future",
    "duplicate": "duplicate",
    "odd_case_name": "normalised",
    "bad_properties": "properties_is_json_object",
}
BAD_TIMESTAMPS = ("not-a-date", "2025-13-45T99:00", "31/02/2025 25:61", "tomorrow")
BAD_PROPERTIES = ("{oops", '{"session":12', "session=12;source=web", "[1,2]")

# message and billing events are drawn as codes: positions in the contract's lists
SENT, DELIVERED, OPEN, CLICK, BOUNCE_HARD, BOUNCE_SOFT, UNSUBSCRIBE, COMPLAINT = range(
    len(MESSAGE_EVENTS)
)
PAID, FAILED, PLAN_CHANGED, CANCELLED = range(len(BILLING_EVENTS))

# survey reasons per archetype, in contract.SURVEY_REASONS order:
# complexity, missing_feature, price, competitor, no_longer_needed, technical_issue, other
SURVEY_REASON_SHARES = {
    STEADY: (0.10, 0.45, 0.20, 0.0, 0.0, 0.05, 0.20),
    DECLINE: (0.34, 0.30, 0.05, 0.0, 0.26, 0.0, 0.05),
    ABRUPT: (0.0, 0.0, 0.20, 0.42, 0.0, 0.30, 0.08),
    NEVER: (0.65, 0.0, 0.0, 0.0, 0.0, 0.0, 0.35),
    INVOLUNTARY: (0.0, 0.0, 0.62, 0.0, 0.0, 0.0, 0.38),
}
SURVEY_COMMENTS = {
    "complexity": (
        "Too complicated to set up",
        "I never understood how to build a report",
        "Too many options, I got lost",
    ),
    "missing_feature": (
        "No export to our BI tool",
        "Missing a Salesforce integration",
        "We needed scheduled reports",
    ),
    "price": ("Too expensive for what we use", "Budget cuts", "The card expired, will see later"),
    "competitor": (
        "We moved to another tool",
        "Our company standardised on a competitor",
        "Found something cheaper, with the same features",
    ),
    "no_longer_needed": (
        "The project ended",
        "We don't need reporting anymore",
        "Changed jobs",
    ),
    "technical_issue": (
        "The dashboard kept crashing",
        "Sync with our database broke, twice",
        "Too slow on large files",
    ),
    "other": ("No comment", "Just trying things out", "Personal reasons"),
}
SURVEY_RESPONSE_RATE = 0.30
STEADY_SURVEY_RATE = 0.015

CHUNK_USERS = 8_192  # users simulated at once (bounds memory; fixed so results are stable)
NEWSLETTER_EVERY = 14
DAY = 86_400

# random streams, so adding draws to one part never shifts another
STREAM_USERS, STREAM_ACTIVITY, STREAM_DIRTY, STREAM_MESSAGES, STREAM_SURVEY, STREAM_BILLING = range(
    6
)
