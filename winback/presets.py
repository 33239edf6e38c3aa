"""Presets: the sources of the exports teams already have, so `preset: segment` in winback.yml
is all a Segment export needs. Each preset is written in the same terms as a source block of
winback.yml (options, mapping in the expression language, where), plus, for the few columns
the language cannot express (GA4's `event_params` list), a fixed piece of SQL written here.

A preset names the exporter's own fields. A loader's table of the same export (a dbt seed, a
warehouse dump) may keep only some of them: a field the file lacks is null, and a mapping none
of whose fields the file has is left out (a column with the contract's name is used instead).

What a source block says on top of a preset wins: its options, its mapping of events columns,
its `where` (added to the preset's). docs/presets.md describes each preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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


# The Snowplow enriched event as the pipeline writes it: a TSV line without a header, these
# 131 fields in this order (snowplow/documentation: docs/pipeline/enriched-tsv-format).
SNOWPLOW_ENRICHED_FIELDS = [
    "app_id",
    "platform",
    "etl_tstamp",
    "collector_tstamp",
    "dvce_created_tstamp",
    "event",
    "event_id",
    "txn_id",
    "name_tracker",
    "v_tracker",
    "v_collector",
    "v_etl",
    "user_id",
    "user_ipaddress",
    "user_fingerprint",
    "domain_userid",
    "domain_sessionidx",
    "network_userid",
    "geo_country",
    "geo_region",
    "geo_city",
    "geo_zipcode",
    "geo_latitude",
    "geo_longitude",
    "geo_region_name",
    "ip_isp",
    "ip_organization",
    "ip_domain",
    "ip_netspeed",
    "page_url",
    "page_title",
    "page_referrer",
    "page_urlscheme",
    "page_urlhost",
    "page_urlport",
    "page_urlpath",
    "page_urlquery",
    "page_urlfragment",
    "refr_urlscheme",
    "refr_urlhost",
    "refr_urlport",
    "refr_urlpath",
    "refr_urlquery",
    "refr_urlfragment",
    "refr_medium",
    "refr_source",
    "refr_term",
    "mkt_medium",
    "mkt_source",
    "mkt_term",
    "mkt_content",
    "mkt_campaign",
    "contexts",
    "se_category",
    "se_action",
    "se_label",
    "se_property",
    "se_value",
    "unstruct_event",
    "tr_orderid",
    "tr_affiliation",
    "tr_total",
    "tr_tax",
    "tr_shipping",
    "tr_city",
    "tr_state",
    "tr_country",
    "ti_orderid",
    "ti_sku",
    "ti_name",
    "ti_category",
    "ti_price",
    "ti_quantity",
    "pp_xoffset_min",
    "pp_xoffset_max",
    "pp_yoffset_min",
    "pp_yoffset_max",
    "useragent",
    "br_name",
    "br_family",
    "br_version",
    "br_type",
    "br_renderengine",
    "br_lang",
    "br_features_pdf",
    "br_features_flash",
    "br_features_java",
    "br_features_director",
    "br_features_quicktime",
    "br_features_realplayer",
    "br_features_windowsmedia",
    "br_features_gears",
    "br_features_silverlight",
    "br_cookies",
    "br_colordepth",
    "br_viewwidth",
    "br_viewheight",
    "os_name",
    "os_family",
    "os_manufacturer",
    "os_timezone",
    "dvce_type",
    "dvce_ismobile",
    "dvce_screenwidth",
    "dvce_screenheight",
    "doc_charset",
    "doc_width",
    "doc_height",
    "tr_currency",
    "tr_total_base",
    "tr_tax_base",
    "tr_shipping_base",
    "ti_currency",
    "ti_price_base",
    "base_currency",
    "geo_timezone",
    "mkt_clickid",
    "mkt_network",
    "etl_tags",
    "dvce_sent_tstamp",
    "refr_domain_userid",
    "refr_device_tstamp",
    "derived_contexts",
    "domain_sessionid",
    "derived_tstamp",
    "event_vendor",
    "event_name",
    "event_format",
    "event_version",
    "event_fingerprint",
    "true_tstamp",
]  # noqa: SIM905 (131 names in the documented order, read as a header)

# GA4's event_params, a list of {key, value: {string_value | int_value | float_value |
# double_value}}, as one JSON object {key: value}: the value that is set, a number for the
# numeric ones (BigQuery writes INT64 as text in JSON). Keys keep the export's order, so a row
# always gives the same text (and the same stand-in event id). SQL over a JSON row (`_r.json`).
_GA4_PARAM_TYPE = (
    '[{"key": "VARCHAR", "value": {"string_value": "VARCHAR", "int_value": "BIGINT", '
    '"float_value": "DOUBLE", "double_value": "DOUBLE"}}]'
)
_GA4_PARAMS = 'json_extract(_r."json", \'$."event_params"\')'
GA4_EVENT_PARAMS_SQL = (
    f"case when json_type({_GA4_PARAMS}) = 'ARRAY' then '{{' || array_to_string(list_transform("
    f"from_json({_GA4_PARAMS}, '{_GA4_PARAM_TYPE}'), lambda p: to_json(p.key)::varchar || ':' "
    "|| coalesce(to_json(p.value.string_value), to_json(p.value.int_value), "
    "to_json(coalesce(p.value.double_value, p.value.float_value)), 'null')::varchar), ',') "
    "|| '}' end"
)

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
                    # an order id when the file has one; else the contract's stand-in, a hash
                    # of the order (two lines alike in customer, date, amount and units are
                    # one order)
                    "event_id": "order_id",
                    "user_id": "customer_id",
                    "event_name": {"constant": "purchase"},
                    "occurred_at": "date",
                    "properties": "json_object('units', number(units))",
                    "revenue": "amount",
                },
            ),
        ),
        example_path="landing/orders.csv",
    )
)

_SEGMENT_USER = "coalesce(nullif(userId, ''), nullif(anonymousId, ''))"
register(
    Preset(
        "segment",
        "Segment or RudderStack messages as JSON Lines (one call per line; RudderStack uses "
        "Segment's field names): `track` calls are events (the user is userId, else "
        "anonymousId), `identify` calls' traits are profiles; page, screen, group and alias "
        "calls are not product actions and are skipped",
        options={"format": "jsonl"},
        feeds=(
            PresetFeed(
                "events",
                {
                    "event_id": "messageId",
                    "user_id": _SEGMENT_USER,
                    "event_name": "event",
                    # timestamp: the device's time corrected for its clock's skew
                    "occurred_at": "coalesce(timestamp, originalTimestamp, receivedAt)",
                    "properties": "properties",
                    # `revenue` is the spec's "revenue the event resulted in"; the e-commerce
                    # spec also puts it on the calls before and after a sale
                    "revenue": "if(event in ('Checkout Started', 'Order Updated', "
                    "'Order Refunded', 'Order Cancelled'), null, coalesce(properties.revenue, "
                    "if(event = 'Order Completed', properties.total, null)))",
                    "platform": "coalesce(context.device.type, if(channel in ('browser', 'web') "
                    "or context.library.name = 'analytics.js', 'web', "
                    "coalesce(channel, context.library.name)))",
                },
                where="type = 'track'",
            ),
            PresetFeed(
                "users",
                {
                    "user_id": _SEGMENT_USER,
                    # Segment sends an identify's traits at the top, RudderStack in context
                    "signup_at": "coalesce(traits.createdAt, traits.created_at, "
                    "context.traits.createdAt, context.traits.created_at)",
                    "email": "coalesce(traits.email, context.traits.email)",
                    "plan": "coalesce(traits.plan, context.traits.plan)",
                    "country": "coalesce(traits.address.country, "
                    "context.traits.address.country, context.location.country)",
                    "acquisition_channel": "context.campaign.medium",
                },
                where="type = 'identify'",
            ),
        ),
        example_path="landing/segment/*.jsonl",
    )
)

register(
    Preset(
        "snowplow",
        "Snowplow enriched events: the pipeline's TSV (no header, the 131 fields in their "
        "canonical order), or with `options: {header: true}` an atomic.events table exported "
        "with its column names; the user is user_id, else domain_userid (the first-party "
        "cookie), else network_userid; page pings are skipped",
        options={
            "format": "csv",
            "delimiter": "tab",
            "quote": "none",  # the enriched TSV never quotes: a field may start with "
            "header": False,
            "columns": list(SNOWPLOW_ENRICHED_FIELDS),
        },
        feeds=(
            PresetFeed(
                "events",
                {
                    "event_id": "event_id",
                    "user_id": "coalesce(nullif(user_id, ''), nullif(domain_userid, ''), "
                    "nullif(network_userid, ''))",
                    # a structured event's action, a self-describing event's name, else the
                    # event type (page_view, transaction, ...)
                    "event_name": "coalesce(nullif(se_action, ''), nullif(event_name, ''), event)",
                    # derived_tstamp: the device's time corrected for its clock's skew
                    "occurred_at": "coalesce(nullif(derived_tstamp, ''), collector_tstamp)",
                    "properties": "coalesce(unstruct_event.data.data, if(event = 'struct', "
                    "json_object('category', se_category, 'action', se_action, 'label', "
                    "se_label, 'property', se_property, 'value', number(se_value)), "
                    "json_object('page_url', page_url, 'page_title', page_title, "
                    "'page_referrer', page_referrer)))",
                    "revenue": "if(event = 'transaction', tr_total, null)",
                    "platform": "platform",
                },
                where="coalesce(event, '') <> 'page_ping'",
            ),
        ),
        example_path="landing/snowplow/*.tsv",
    )
)

_AMPLITUDE_USER = "coalesce(nullif(user_id, ''), nullif(device_id, ''), amplitude_id)"
register(
    Preset(
        "amplitude",
        "an Amplitude export (Export API or its S3 / GCS export, JSON Lines): event_type at "
        "event_time (UTC); the user is user_id, else device_id, else amplitude_id; "
        "user_properties, country and user_creation_time are profiles",
        options={"format": "jsonl"},
        feeds=(
            PresetFeed(
                "events",
                {
                    # uuid: Amplitude's id of the stored event; $insert_id: the sender's
                    "event_id": 'coalesce(uuid, "$insert_id")',
                    "user_id": _AMPLITUDE_USER,
                    "event_name": "event_type",
                    "occurred_at": "coalesce(event_time, client_event_time)",
                    "properties": "event_properties",
                    # revenue events carry $revenue, or $price and $quantity (sent as the
                    # HTTP API's revenue, price and quantity fields)
                    "revenue": 'coalesce(number(event_properties."$revenue"), '
                    "number(event_properties.revenue), "
                    'number(event_properties."$price") * '
                    'coalesce(number(event_properties."$quantity"), 1), number(revenue), '
                    "number(price) * coalesce(number(quantity), 1))",
                    "platform": "platform",
                },
                # $identify and $groupidentify rows set user or group properties: not actions
                where="coalesce(event_type, '') not in ('$identify', '$groupidentify')",
            ),
            PresetFeed(
                "users",
                {
                    "user_id": _AMPLITUDE_USER,
                    "signup_at": "user_creation_time",
                    "email": "user_properties.email",
                    "plan": "user_properties.plan",
                    "country": "country",
                },
            ),
        ),
        example_path="landing/amplitude/*.json",
    )
)

_MIXPANEL_USER = (
    "coalesce(nullif(properties.distinct_id, ''), nullif(properties.\"$user_id\", ''), "
    "nullif(properties.\"$device_id\", ''))"
)
register(
    Preset(
        "mixpanel",
        "a Mixpanel raw event export (JSON Lines of {event, properties}; `format: json` for "
        "a JSON array): the user is properties.distinct_id (else $user_id, else $device_id), "
        "the time properties.time in epoch seconds or milliseconds; events with the same "
        "$insert_id, name, user and time are one event",
        options={"format": "jsonl"},
        feeds=(
            PresetFeed(
                "events",
                {
                    # Mixpanel's own deduplication key (an id alone can repeat across events);
                    # without $insert_id, the contract's stand-in: a hash of the whole event
                    "event_id": "if(properties.\"$insert_id\" is null, null, md5(concat_ws('|', "
                    f'properties."$insert_id", event, {_MIXPANEL_USER}, properties.time)))',
                    "user_id": _MIXPANEL_USER,
                    "event_name": "event",
                    "occurred_at": {"column": "properties.time", "format": "epoch"},
                    "properties": "properties",
                    "revenue": 'coalesce(properties.revenue, properties."$amount", '
                    "properties.amount)",
                    "platform": "if(properties.mp_lib = 'web', 'web', "
                    'coalesce(properties."$os", properties.mp_lib))',
                },
                # identity management calls, not actions
                where="coalesce(event, '') not in ('$identify', '$create_alias', '$merge')",
            ),
        ),
        example_path="landing/mixpanel/*.json",
    )
)

_GA4_USER = "coalesce(nullif(user_id, ''), user_pseudo_id)"
register(
    Preset(
        "ga4",
        "the GA4 BigQuery export as JSON Lines (rows of events_YYYYMMDD): event_name at "
        "event_timestamp (UTC microseconds; event_date, the property's local date, is not "
        "used); the user is user_id, else user_pseudo_id; event_params are the properties; "
        "the first-touch time, country and first traffic medium are profiles",
        options={"format": "jsonl"},
        feeds=(
            PresetFeed(
                "events",
                {
                    "user_id": _GA4_USER,
                    "event_name": "event_name",
                    "occurred_at": {"column": "event_timestamp", "format": "epoch_us"},
                    # US dollars, one currency for every event; event_value_in_usd (the
                    # `value` parameter) also rides on add_to_cart and lead events, so it
                    # counts for purchases only
                    "revenue": "coalesce(ecommerce.purchase_revenue_in_usd, if(event_name in "
                    "('purchase', 'in_app_purchase'), event_value_in_usd, null))",
                    "platform": "platform",
                },
                trusted_sql={"properties": GA4_EVENT_PARAMS_SQL},
            ),
            PresetFeed(
                "users",
                {
                    "user_id": _GA4_USER,
                    "signup_at": {"column": "user_first_touch_timestamp", "format": "epoch_us"},
                    "country": "geo.country",
                    # traffic_source: what first acquired the user (not this session's source)
                    "acquisition_channel": "traffic_source.medium",
                },
            ),
        ),
        example_path="landing/ga4/*.jsonl",
    )
)
