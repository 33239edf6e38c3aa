"""Presets: the sources of the exports teams already have, so `preset: segment` in winback.yml
is all a Segment export needs. Each preset is written in the same terms as a source block of
winback.yml (options, mapping in the expression language, where), plus, for the few columns
the language cannot express (GA4's `event_params` list), a fixed piece of SQL written here.

What a source block says on top of a preset wins: its options, its mapping of events columns,
its `where` (added to the preset's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from winback.contract import FILE_KINDS
from winback.mapping import MappingError


@dataclass(frozen=True)
class PresetFeed:
    kind: str
    mapping: dict
    where: str | None = None
    trusted_sql: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    options: dict
    feeds: tuple[PresetFeed, ...]
    example_path: str = "landing/export.jsonl"


PRESETS: dict[str, Preset] = {}


def register(preset: Preset) -> Preset:
    PRESETS[preset.name] = preset
    return preset


register(
    Preset(
        "orders",
        "a plain orders table: one row per order with the customer, the date and the amount; "
        "each order is a `purchase` event with its amount as revenue",
        options={},
        feeds=(
            PresetFeed(
                "events",
                {
                    "user_id": "customer_id",
                    "event_name": {"constant": "purchase"},
                    "occurred_at": "date",
                    "revenue": "amount",
                },
            ),
        ),
        example_path="landing/orders.csv",
    )
)

register(
    Preset(
        "segment",
        "Segment or RudderStack messages as JSON Lines (one call per line): `track` calls are "
        "events (the user is userId, else anonymousId), `identify` calls' traits are profiles; "
        "page, screen, group and alias calls are not product actions and are skipped",
        options={"format": "jsonl"},
        feeds=(
            PresetFeed(
                "events",
                {
                    "event_id": "messageId",
                    "user_id": "coalesce(userId, anonymousId)",
                    "event_name": "event",
                    "occurred_at": "coalesce(timestamp, originalTimestamp, receivedAt)",
                    "properties": "properties",
                    "revenue": "coalesce(properties.revenue, properties.total)",
                    "platform": "coalesce(context.device.type, context.library.name)",
                },
                where="type = 'track'",
            ),
            PresetFeed(
                "users",
                {
                    "user_id": "coalesce(userId, anonymousId)",
                    "signup_at": "coalesce(traits.createdAt, traits.created_at)",
                    "email": "traits.email",
                    "plan": "traits.plan",
                    "country": "coalesce(traits.address.country, context.location.country)",
                    "acquisition_channel": "context.campaign.source",
                },
                where="type = 'identify'",
            ),
        ),
        example_path="landing/segment/*.jsonl",
    )
)


def preset_feeds(name: str, source: str, raw_options: Mapping | None, place: str) -> list:
    """The feeds of source `source` that uses preset `name`, its options on top of the
    preset's."""
    from winback.sources import Feed, parse_mapping, parse_options

    preset = PRESETS.get(name)
    if preset is None:
        raise MappingError(f"{place}: unknown preset {name!r} (presets: {', '.join(PRESETS)})")
    options = parse_options({**preset.options, **dict(raw_options or {})}, f"{place}.options")
    feeds = []
    for f in preset.feeds:
        kind = FILE_KINDS[f.kind]
        mapping = parse_mapping(f.mapping, kind, f"preset {name}")
        feeds.append(Feed(source, kind, mapping, f.where, options, dict(f.trusted_sql)))
    return feeds
