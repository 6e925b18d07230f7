"""The tables that the ledger service owns (SQLAlchemy Core).

Migrations live in ``ledger_service/migrations`` (branch ``ledger``); a test keeps them
equal to this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

from anchoring.schema import LeafIndex

metadata = sa.MetaData()

# --- API tokens, console sessions and idempotency records (branch ``ledger_auth``) ---

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    # The public half of a token ``ct_<id>_<secret>``; the secret is kept only as a keyed hash.
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # The staff member's display name (ledger_auth_0003_names), shown in the console only:
    # events record the token id, never a person's name.
    sa.Column("name", sa.String(64), nullable=True),
    sa.CheckConstraint("role IN ('hq', 'store', 'auditor')", name="api_tokens_role"),
    sa.CheckConstraint(
        "(role = 'store') = (store_id IS NOT NULL)", name="api_tokens_store_only_for_store"
    ),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL while the first request with this key is still being executed.
    sa.Column("status", sa.Integer, nullable=True),
    # The response body, encrypted (it can hold redemption codes): see ledger_service.idempotency.
    sa.Column("response", sa.LargeBinary, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("idempotency_keys_created_at", "created_at"),
)

# One row per console sign-in: the signed cookie holds a random session id, this table its
# SHA-256. Signing out deletes the row, so a copy of the cookie stops working with it;
# a revoked token ends its sessions too (checked on every request).
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(32), sa.ForeignKey("api_tokens.id"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("console_sessions_expires_at", "expires_at"),
)

# --- Stores, cards and their events (branch ``ledger_core``) ---
# Times are stored in UTC. Card numbers are the normalised 17 characters.

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("region", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Where customers find the store (ledger_core_0004): all optional, shown to choose a
    # pickup store, grouped by city.
    sa.Column("address", sa.String(500), nullable=True),
    sa.Column("city", sa.String(64), nullable=True),
    sa.Column("opening_hours", sa.String(200), nullable=True),
    sa.Column("latitude", sa.Float, nullable=True),
    sa.Column("longitude", sa.Float, nullable=True),
)

# The product catalogue (ledger_core_0004). A card issued for a SKU takes its kind, face
# value and currency from here. ``units``: the items a pickup card is good for (collected
# in one pickup) or the uses of a count card; stored-value cards hold money instead.
products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name_zh", sa.String(200), nullable=False),
    sa.Column("name_en", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("face_value", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("units", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('pickup', 'stored_value', 'count')", name="products_kind"),
    sa.CheckConstraint("units >= 1", name="products_units"),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("number", sa.String(17), primary_key=True),
    # The event commitment's salt; handed out with the card's history to number holders.
    sa.Column("salt", sa.LargeBinary(16), nullable=False),
    # HMAC-SHA256 of the redemption code under the server secret (never the code).
    sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("state", sa.String(24), nullable=False),
    # The state a BLOCKED card returns to when unblocked.
    sa.Column("blocked_from", sa.String(24), nullable=True),
    sa.Column("product", sa.String(200), nullable=False),
    sa.Column("face_value", sa.BigInteger, nullable=True),
    sa.Column("currency", sa.String(3), nullable=True),
    # JSON lists of store ids and regions; both empty: valid in every store of the chain.
    sa.Column("allowed_stores", sa.Text, nullable=False),
    sa.Column("allowed_regions", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("holder_ref", sa.String(200), nullable=True),
    # The card's last event: its seq and the SHA-256 of its leaf input (next prev_event_hash).
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("last_event_hash", sa.String(64), nullable=False),
    sa.Column("batch_ref", sa.String(200), nullable=False),
    # batch_ref + row key of an import: re-running the same file issues nothing twice.
    sa.Column("import_key", sa.String(401), nullable=True),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # Wrong-code lockout (ledger_service.domain.lockout).
    sa.Column("code_failures", sa.Integer, nullable=False),
    sa.Column("code_locks", sa.Integer, nullable=False),
    sa.Column("code_locked_until", sa.DateTime(timezone=True), nullable=True),
    # Money and kinds (ledger_core_0004). Cards issued before are active pickup cards.
    sa.Column("kind", sa.String(16), nullable=False, server_default="pickup"),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), nullable=True),
    # Stored value: the balance in minor units; count cards: the uses left. NULL otherwise.
    sa.Column("balance", sa.BigInteger, nullable=True),
    # The sale that activated the card: channel, price in minor units, time.
    sa.Column("channel_id", sa.String(64), nullable=True),
    sa.Column("sale_price", sa.BigInteger, nullable=True),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('pickup', 'stored_value', 'count')", name="cards_kind"),
    sa.CheckConstraint("balance IS NULL OR balance >= 0", name="cards_balance_not_negative"),
    sa.UniqueConstraint("import_key", name="cards_import_key"),
    sa.Index("cards_state", "state"),
    sa.Index("cards_expires_at", "expires_at"),
    sa.Index("cards_batch_ref", "batch_ref"),
)

# One row per log event of a card, for lookups and dashboards; the event itself (the exact
# JSON) is the leaf input in log_leaves at the same leaf_index.
events = sa.Table(
    "events",
    metadata,
    sa.Column("leaf_index", LeafIndex, primary_key=True, autoincrement=False),
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(24), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), nullable=True),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    # Value events (ledger_core_0004): the signed change of the card's balance and the
    # balance after it, as logged in the event's data; NULL for events that move no value.
    sa.Column("amount", sa.BigInteger, nullable=True),
    sa.Column("balance", sa.BigInteger, nullable=True),
    # A second event with the same seq would be a lost update: the database refuses it.
    sa.UniqueConstraint("card_number", "seq", name="events_card_seq"),
    sa.Index("events_store_occurred", "store_id", "occurred_at"),
    # Covers the dashboard's per-store, per-day counts of each type without reading rows.
    sa.Index("events_type_occurred_store", "type", "occurred_at", "store_id"),
)

# The free text of a block, unblock or void reason: the event in the log carries only its
# code and SHA-256 over the salt and the text (ledger_service.events.reason_hash).
event_reasons = sa.Table(
    "event_reasons",
    metadata,
    sa.Column(
        "leaf_index",
        LeafIndex,
        sa.ForeignKey("events.leaf_index"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("text", sa.String(200), nullable=False),
    sa.Column("salt", sa.LargeBinary(16), nullable=False),
)

# Sales channels and what each may sell (ledger_core_0005): headquarters allocates cards of
# a product from the pool to a channel at the channel's price; each sale (activation
# naming the channel) counts one sold, by a conditional update that never passes
# ``allocated``, however many sales race.
channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('distributor', 'online', 'store')", name="channels_kind"),
)

channel_allocations = sa.Table(
    "channel_allocations",
    metadata,
    sa.Column("channel_id", sa.String(64), sa.ForeignKey("channels.id"), primary_key=True),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("allocated", sa.Integer, nullable=False),
    sa.Column("sold", sa.Integer, nullable=False),
    # The channel's sale price of one card, in minor units of the product's currency.
    sa.Column("price", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sold >= 0 AND sold <= allocated", name="channel_allocations_sold"),
    sa.CheckConstraint("price >= 0", name="channel_allocations_price"),
)

# Goods per store and product (ledger_core_0004): a pickup request reserves, a cancel
# releases, a completed pickup consumes. The checks hold under concurrent requests.
stock = sa.Table(
    "stock",
    metadata,
    sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), primary_key=True),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("on_hand", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    # At or below this many available (on hand less reserved), the dashboard warns.
    sa.Column("low_water", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_reserved_in_range"),
    sa.CheckConstraint("low_water >= 0", name="stock_low_water"),
)

# Bottle serials (瓶码) handed over with a pickup (ledger_core_0008_stores): filled from
# each PICKUP_COMPLETED event's "serials", so that the public lookup finds the event. One
# serial may appear in several events (a copied code is visible, not refused here).
serials = sa.Table(
    "serials",
    metadata,
    sa.Column("serial", sa.String(128), primary_key=True),
    sa.Column(
        "leaf_index",
        LeafIndex,
        sa.ForeignKey("events.leaf_index"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
)

# How often the public card page was looked at (ledger_core_0008_stores), outside the log.
card_checks = sa.Table(
    "card_checks",
    metadata,
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
)

# The different clients that looked at a card: a keyed hash of the client and the day
# (portal.lookup_counter), never an address; the hash changes every day.
card_check_clients = sa.Table(
    "card_check_clients",
    metadata,
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), primary_key=True),
    sa.Column("client", sa.String(32), primary_key=True),
    sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
)

pickups = sa.Table(
    "pickups",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("store_id", sa.String(64), sa.ForeignKey("stores.id"), nullable=True),
    # The merchant's reference to a delivery address; the address itself stays with them.
    sa.Column("address_ref", sa.String(200), nullable=True),
    sa.Column("state", sa.String(24), nullable=False),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # ledger_core_0007_pickups: the day chosen, the card's state before the request (a
    # cancel returns it there), the delivery address sealed (AES-GCM under the server
    # secret, ledger_service.sealing) with the salt of its logged hash, the shipment, and
    # how the goods were handed over.
    sa.Column("day", sa.String(10), nullable=True),
    sa.Column("from_state", sa.String(24), nullable=True),
    sa.Column("address_sealed", sa.LargeBinary, nullable=True),
    sa.Column("address_salt", sa.LargeBinary(16), nullable=True),
    sa.Column("carrier", sa.String(64), nullable=True),
    sa.Column("tracking_number", sa.String(64), nullable=True),
    sa.Column("tracking_salt", sa.LargeBinary(16), nullable=True),
    sa.Column("credential", sa.String(16), nullable=True),
    sa.Column("serials", sa.Text, nullable=True),
    sa.CheckConstraint("mode IN ('store', 'delivery')", name="pickups_mode"),
    sa.Index("pickups_card", "card_number"),
    sa.Index("pickups_store_state", "store_id", "state"),
)

# Gift share links (ledger_core_0007_pickups): the link's token is kept only as its HMAC
# under the server secret; ``from_state`` is where a gift nobody accepts returns the card.
gift_offers = sa.Table(
    "gift_offers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
    sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("from_state", sa.String(24), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("state IN ('open', 'accepted', 'returned')", name="gift_offers_state"),
    sa.Index("gift_offers_card", "card_number"),
    sa.Index("gift_offers_state_expires", "state", "expires_at"),
)

# Every wrong or locked-out redemption code, for the anomaly view. Never a log event.
code_failures = sa.Table(
    "code_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("card_number", sa.String(17), sa.ForeignKey("cards.number"), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("command", sa.String(32), nullable=False),
    # "wrong": a wrong code; "locked": any code while the card's code was locked.
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Index("code_failures_card_at", "card_number", "at"),
    sa.Index("code_failures_at", "at"),
)

# What the console flags: attempts on used, blocked or unknown cards, refused other-store
# attempts, wrong-code lockouts, redemption bursts at one store. Never a log event.
anomalies = sa.Table(
    "anomalies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    # Not a foreign key: an attempt on a number that was never issued is an anomaly too.
    sa.Column("card_number", sa.String(17), nullable=True),
    sa.Column("store_id", sa.String(64), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Index("anomalies_at", "at"),
    sa.Index("anomalies_kind_at", "kind", "at"),
)

# Every administrative action, whoever runs it and from where (API or console): who (the
# token id), when, what, on which card, and the log event it wrote if any. Unlocking a
# code writes no event, so this is its only record (ledger_core_0006).
admin_actions = sa.Table(
    "admin_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_role", sa.String(16), nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("card_number", sa.String(17), nullable=True),
    sa.Column("leaf_index", LeafIndex, nullable=True),
    sa.Column("detail", sa.String(500), nullable=False),
    sa.Index("admin_actions_at", "at"),
    sa.Index("admin_actions_card", "card_number"),
)

# --- Store device keys and the signed commands they made (branch ``ledger_devices``) ---

# Ethereum addresses (checksummed, 0x…) that may sign store commands. A revoked key stays
# here for good, so that an address can never be registered again. No foreign key to
# stores: the roots upgrade in no fixed order (the registry checks the store exists).
store_keys = sa.Table(
    "store_keys",
    metadata,
    sa.Column("address", sa.String(42), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("registered_by", sa.String(64), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("store_keys_store", "store_id"),
)

# Every client id a device key has used, with the command's outcome: a replay is refused,
# and a store client re-sending its queue gets the first answer back. Refusals are kept
# only for validly signed commands, so nobody can burn another device's client ids.
device_commands = sa.Table(
    "device_commands",
    metadata,
    sa.Column("signer", sa.String(42), primary_key=True),
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("store_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(24), nullable=False),
    sa.Column("card_number", sa.String(17), nullable=True),
    sa.Column("signature", sa.String(132), nullable=False),
    sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    # "accepted" (with leaf_index and state) or "refused" (with code and detail).
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("leaf_index", LeafIndex, nullable=True),
    sa.Column("state", sa.String(24), nullable=True),
    sa.Column("code", sa.String(48), nullable=True),
    sa.Column("detail", sa.String(500), nullable=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("outcome IN ('accepted', 'refused')", name="device_commands_outcome"),
)
