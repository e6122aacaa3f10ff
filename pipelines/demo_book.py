"""A synthetic but realistic book of B2B accounts, written as daily extract deliveries.

Every account carries a hidden `propensity` (0..1) that drives its usage, engagement,
support load, satisfaction and payments together, so the book holds healthy, at-risk
and critical accounts in believable proportions; the weakest churn inside the window
and the strongest expand. Everything is drawn with numpy and shaped with polars per
day: the work grows with the number of events, never with a Python call per account.

Deliveries: crm_accounts and billing_subscriptions daily (CSV), product_events daily
(Parquet), product_users weekly (Parquet), crm_activities, support_tickets, surveys and
billing_invoices daily (CSV, incremental; the first folder carries the months before the
window), the other snapshots weekly (CSV). A ticket or invoice appears again in the
folder of the day its status changes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

SEGMENTS = {  # share of accounts, ARR range in USD
    "smb": (0.40, 6_000, 24_000),
    "mid_market": (0.35, 30_000, 95_000),
    "enterprise": (0.25, 110_000, 420_000),
}
PLAN_BY_SEGMENT = {"smb": "starter", "mid_market": "professional", "enterprise": "enterprise"}
CURRENCIES = {"USD": (0.88, 1.0), "EUR": (0.08, 1.08), "GBP": (0.04, 1.27)}
INDUSTRIES = [
    "software",
    "finance",
    "healthcare",
    "retail",
    "manufacturing",
    "logistics",
    "education",
    "media",
]
FEATURES = [  # name, is_core, plan_tier
    ("dashboards", True, "starter"),
    ("reports", True, "starter"),
    ("workflows", True, "starter"),
    ("alerts", True, "starter"),
    ("integrations", True, "professional"),
    ("data_import", True, "starter"),
    ("comments", False, "starter"),
    ("mobile_app", False, "starter"),
    ("templates", False, "starter"),
    ("scheduling", False, "professional"),
    ("api", False, "professional"),
    ("forecasting", False, "professional"),
    ("custom_fields", False, "professional"),
    ("approvals", False, "professional"),
    ("sso", False, "enterprise"),
    ("audit_log", False, "enterprise"),
    ("sandbox", False, "enterprise"),
    ("advanced_permissions", False, "enterprise"),
]
MILESTONES = [  # name, due days after contract start
    ("kickoff", 3),
    ("provisioning", 7),
    ("success_criteria", 10),
    ("training_scheduled", 14),
    ("first_workflow_live", 21),
    ("users_trained", 28),
    ("first_value", 30),
    ("full_deployment", 60),
    ("day90_review", 90),
]
EVENTS_PER_ACCOUNT_DAY = 24.0  # about 2.5k events per account over 120 days
BACKLOG_DAYS = 365  # history carried by the first incremental folders
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class BookShape:
    accounts: int = 500
    days: int = 120
    seed: int = 7
    # Last delivery date, today (UTC) by default: read once, so a demo that runs past
    # midnight keeps the book's dates.
    last_day: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())

    @property
    def first_day(self) -> dt.date:
        return self.last_day - dt.timedelta(days=self.days - 1)


def _days(dates: np.ndarray) -> np.ndarray:
    return dates.astype("datetime64[D]")


def _date_series(name: str, values: np.ndarray) -> pl.Series:
    return pl.Series(name, _days(values)).cast(pl.Date)


def draw_accounts(shape: BookShape, rng: np.random.Generator) -> pl.DataFrame:
    count = shape.accounts
    first = np.datetime64(shape.first_day)
    segment_names = list(SEGMENTS)
    segment = rng.choice(len(segment_names), count, p=[s[0] for s in SEGMENTS.values()])
    low = np.array([SEGMENTS[s][1] for s in segment_names])[segment]
    high = np.array([SEGMENTS[s][2] for s in segment_names])[segment]
    arr_usd = np.round(rng.uniform(low, high), -2)
    seats = np.maximum(5, np.round(arr_usd / rng.uniform(1000, 1600, count))).astype(np.int64)

    # Latent propensity: a third thriving, a third middling, a third struggling.
    group = rng.choice(3, count, p=[0.36, 0.36, 0.28])
    propensity = np.clip(
        np.array([0.88, 0.62, 0.30])[group] + rng.normal(0, 0.08, count), 0.02, 0.99
    )

    # Contracts: 12% start inside the window (onboarding), the rest up to 4 years back.
    onboarding = rng.random(count) < 0.12
    age = np.where(
        onboarding,
        rng.integers(-shape.days + 1, 1, count),
        -rng.integers(shape.days, 4 * 365, count),
    )
    start = first + (shape.days - 1) + age
    years = np.maximum(
        1, np.ceil((np.datetime64(shape.last_day) - 60 - start).astype(int) / 365)
    ).astype(int)
    renewal = start + years * 365

    # Churners: weak accounts that end inside the window; expanders: strong ones.
    old_enough = start < first - 30
    churn = old_enough & (propensity < 0.38) & (rng.random(count) < 0.45)
    inside = (shape.days // 10, max(shape.days // 10 + 1, shape.days - 2))
    churn_day = first + rng.integers(*inside, count)
    expand = old_enough & ~churn & (propensity > 0.7) & (rng.random(count) < 0.32)
    expand_day = first + rng.integers(*inside, count)
    contract = old_enough & ~churn & ~expand & (propensity < 0.55) & (rng.random(count) < 0.15)

    currency_names = list(CURRENCIES)
    currency = rng.choice(len(currency_names), count, p=[c[0] for c in CURRENCIES.values()])
    csms = max(3, count // 60)
    csm = np.char.add("csm_", np.char.zfill((rng.integers(0, csms, count) + 1).astype(str), 2))
    unassigned = rng.random(count) < 0.02
    identified = rng.random(count) < 0.35 + 0.6 * propensity
    return (
        pl.DataFrame(
            {
                "account_id": np.char.add(
                    "ACC-", np.char.zfill(np.arange(1, count + 1).astype(str), 5)
                ),
                "account_name": np.char.add("Customer ", np.arange(1, count + 1).astype(str)),
                "industry": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), count)],
                "csm_owner": pl.Series(csm).set(pl.Series(unassigned), None),
                "segment": np.array(segment_names)[segment],
                "plan_tier": np.array([PLAN_BY_SEGMENT[s] for s in segment_names])[segment],
                "arr_usd": arr_usd,
                "licensed_seats": seats,
                "currency": np.array(currency_names)[currency],
                "rate": np.array([c[1] for c in CURRENCIES.values()])[currency],
                "propensity": propensity,
                "executive_sponsor_identified": identified,
                "executive_sponsor_engaged": identified & (rng.random(count) < propensity),
                "champion_present": rng.random(count) < 0.3 + 0.65 * propensity,
                "renewal_budget_confirmed": rng.random(count) < propensity * 0.9,
                "churn": churn,
                "expand": expand,
                "contract": contract,
            }
        )
        .with_columns(
            _date_series("contract_start_date", start),
            _date_series("renewal_date", renewal),
            _date_series("churn_date", churn_day),
            _date_series("expand_date", expand_day),
            pl.Series(
                "active_share", np.clip(propensity * 1.05 + rng.normal(0, 0.06, count), 0.03, 1.0)
            ),
            pl.Series(
                "user_count",
                np.maximum(2, np.round(seats * rng.uniform(0.7, 1.15, count))).astype(np.int64),
            ),
        )
        .with_columns(
            pl.col("user_count").cum_sum().sub(pl.col("user_count")).alias("user_offset"),
        )
    )


def subscriptions(accounts: pl.DataFrame) -> pl.DataFrame:
    """Base platform subscription, churn end dates, expansion add-ons, contractions.
    `known_from` is the first delivery that shows a row (a cancellation is known 30
    days before it takes effect)."""
    base_mrr = (pl.col("arr_usd") / 12 / pl.col("rate")).round(2)
    base = accounts.select(
        "account_id",
        pl.lit("platform").alias("product"),
        pl.col("contract_start_date").alias("start_date"),
        pl.when(pl.col("churn"))
        .then(pl.col("churn_date"))
        .when(pl.col("contract"))
        .then(pl.col("expand_date"))
        .otherwise(None)
        .alias("end_date"),
        base_mrr.alias("mrr"),
        "currency",
        pl.col("licensed_seats").alias("quantity"),
        pl.col("contract_start_date").alias("known_from"),
    ).with_columns(
        pl.when(pl.col("end_date").is_not_null())
        .then(pl.min_horizontal("known_from", pl.col("end_date") - pl.duration(days=30)))
        .otherwise("known_from")
        .alias("known_from")
    )
    expansion = accounts.filter("expand").select(
        "account_id",
        pl.lit("analytics").alias("product"),
        pl.col("expand_date").alias("start_date"),
        pl.lit(None, dtype=pl.Date).alias("end_date"),
        (base_mrr * 0.35).round(2).alias("mrr"),
        "currency",
        (pl.col("licensed_seats") // 3).alias("quantity"),
        pl.col("expand_date").alias("known_from"),
    )
    contraction = accounts.filter("contract").select(
        "account_id",
        pl.lit("platform").alias("product"),
        pl.col("expand_date").alias("start_date"),
        pl.lit(None, dtype=pl.Date).alias("end_date"),
        (base_mrr * 0.7).round(2).alias("mrr"),
        "currency",
        (pl.col("licensed_seats") * 7 // 10).alias("quantity"),
        (pl.col("expand_date") - pl.duration(days=30)).alias("known_from"),
    )
    rows = pl.concat([base, expansion, contraction])
    return rows.with_columns(
        pl.concat_str(
            pl.lit("SUB-"), pl.int_range(1, pl.len() + 1).cast(pl.String).str.zfill(7)
        ).alias("subscription_id")
    )


def users(accounts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    counts = accounts["user_count"].to_numpy()
    owner = np.repeat(np.arange(accounts.height), counts)
    index = np.arange(counts.sum()) - np.repeat(accounts["user_offset"].to_numpy(), counts)
    start = accounts["contract_start_date"].to_numpy().astype("datetime64[s]")[owner]
    created = start + (
        rng.integers(0, 45, owner.size) * SECONDS_PER_DAY
        + rng.integers(0, SECONDS_PER_DAY, owner.size)
    ).astype("timedelta64[s]")
    created = created.astype("datetime64[ms]")
    roles = np.where(
        index == 0, "admin", np.where(rng.random(owner.size) < 0.1, "manager", "member")
    )
    return pl.DataFrame(
        {
            "user_id": np.char.add(np.char.add("U", np.arange(1, owner.size + 1).astype(str)), ""),
            "account_id": accounts["account_id"].to_numpy()[owner],
            "created_at": pl.Series(created).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "role": roles,
            "account_index": owner,
        }
    )


def contacts(accounts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    per_account = rng.integers(3, 8, accounts.height)
    owner = np.repeat(np.arange(accounts.height), per_account)
    first_of_account = np.r_[0, np.cumsum(per_account)[:-1]]
    position = np.arange(owner.size) - np.repeat(first_of_account, per_account)
    roles = np.array(["executive_sponsor", "champion", "admin", "user", "user", "other", "user"])
    number = np.arange(1, owner.size + 1).astype(str)
    account_ids = accounts["account_id"].to_numpy()[owner]
    return pl.DataFrame(
        {
            "contact_id": np.char.add("C", number),
            "account_id": pl.Series(account_ids, dtype=pl.String),
            "full_name": np.char.add("Contact Person ", number),
            "email": np.char.add(
                np.char.add(np.char.add("contact", number), "@"),
                np.char.add(np.char.lower(account_ids.astype(str)), ".example.com"),
            ),
            "role": roles[position],
            "is_active": rng.random(owner.size) < 0.93,
            "account_index": owner,
        }
    )


def _poisson_rows(rng, rates: np.ndarray) -> np.ndarray:
    """Row indexes repeated by a Poisson draw of their rate: one row per occurrence."""
    return np.repeat(np.arange(rates.size), rng.poisson(rates))


def _timestamps(rng, days: np.ndarray) -> pl.Series:
    seconds = days.astype("datetime64[s]") + rng.integers(7 * 3600, 20 * 3600, days.size).astype(
        "timedelta64[s]"
    )
    seconds = seconds.astype("datetime64[ms]")
    return pl.Series(seconds).cast(pl.Datetime("us"))


def active_on(accounts: pl.DataFrame, day: dt.date) -> np.ndarray:
    """Accounts whose contract has begun and who have not churned by `day`."""
    started = accounts["contract_start_date"] <= day
    gone = accounts["churn"] & (accounts["churn_date"] <= day)
    return (started & ~gone).to_numpy()


def product_events(
    accounts: pl.DataFrame, day: dt.date, rng: np.random.Generator, first_event_id: int
) -> pl.DataFrame:
    live = active_on(accounts, day)
    propensity = accounts["propensity"].to_numpy()
    seats = accounts["licensed_seats"].to_numpy()
    weekday = day.weekday() < 5
    intensity = EVENTS_PER_ACCOUNT_DAY * (1.35 if weekday else 0.25)
    rates = np.where(live, intensity * seats / seats.mean() * (0.25 + propensity), 0.0)
    owner = _poisson_rows(rng, rates)
    count = owner.size
    active_users = np.maximum(
        1, np.round(accounts["user_count"].to_numpy() * accounts["active_share"].to_numpy())
    ).astype(int)
    user = accounts["user_offset"].to_numpy()[owner] + (
        rng.random(count) * active_users[owner]
    ).astype(int)
    # Strong accounts spread over many features, weak ones keep to the first few.
    concentration = 1 + 3 * (1 - propensity[owner])
    feature = np.minimum(
        rng.random(count) ** concentration * len(FEATURES), len(FEATURES) - 1
    ).astype(int)
    names = np.array([f[0] for f in FEATURES], dtype=object)[feature]
    kind = rng.random(count)
    names = np.where(kind < 0.16, "login", names)
    names = np.where((kind >= 0.16) & (kind < 0.163), "training_completed", names)
    names = np.where(
        (kind >= 0.163) & (kind < 0.1645) & (propensity[owner] > 0.7), "limit_reached", names
    )
    ids = np.arange(first_event_id, first_event_id + count)
    # Now and then the tracker sends an event for an account the CRM does not know.
    account_ids = accounts["account_id"].to_numpy()[owner]
    account_ids[rng.random(count) < 0.0001] = "ACC-99999"
    return pl.DataFrame(
        {
            "event_id": pl.Series(ids).cast(pl.String),
            "occurred_at": (
                _timestamps(rng, np.full(count, np.datetime64(day))).dt.replace_time_zone("UTC")
            ),
            "user_id": pl.Series(user + 1).cast(pl.String),
            "account_id": pl.Series(account_ids, dtype=pl.String),
            "event_name": names.astype(str),
            "session_id": pl.Series(user * 1000 + rng.integers(0, 4, count)).cast(pl.String),
            "duration_s": np.round(rng.exponential(40, count), 1),
        }
    ).with_columns(
        pl.concat_str(pl.lit("E"), pl.col("event_id")).alias("event_id"),
        pl.concat_str(pl.lit("U"), pl.col("user_id")).alias("user_id"),
        pl.concat_str(pl.lit("S"), pl.col("session_id")).alias("session_id"),
    )


def activities(
    accounts: pl.DataFrame, first: dt.date, last: dt.date, rng: np.random.Generator
) -> pl.DataFrame:
    """CRM activities from BACKLOG_DAYS before the window to its end."""
    start = np.datetime64(first) - BACKLOG_DAYS
    span = (np.datetime64(last) - start).astype(int) + 1
    propensity = accounts["propensity"].to_numpy()
    pieces = []
    for activity, per_day in (
        ("email_sent", 0.12),
        ("meeting_held", 0.035),
        ("call", 0.02),
        ("qbr", 1 / 95),
        ("executive_meeting", 0.006),
        ("training_session", 0.004),
    ):
        # Every account is emailed alike; how much else happens follows its propensity.
        weight = np.ones_like(propensity) if activity == "email_sent" else 0.35 + propensity
        rate = per_day * span * weight
        owner = _poisson_rows(rng, rate)
        day = start + rng.integers(0, span, owner.size)
        keep = rng.random(owner.size) < (
            0.3 + 0.7 * propensity[owner] if activity in ("qbr", "executive_meeting") else 1.0
        )
        owner, day = owner[keep], day[keep]
        pieces.append((activity, owner, day))
        if activity == "email_sent":
            replied = rng.random(owner.size) < 0.1 + 0.85 * propensity[owner]
            pieces.append(
                ("email_reply", owner[replied], day[replied] + rng.integers(0, 3, replied.sum()))
            )
        if activity == "meeting_held":
            missed = _poisson_rows(rng, (1.1 - propensity) * per_day * span * 0.6)
            pieces.append(("meeting_no_show", missed, start + rng.integers(0, span, missed.size)))
    frames = []
    for activity, owner, day in pieces:
        frames.append(
            pl.DataFrame(
                {
                    "account_index": owner,
                    "activity_type": np.full(owner.size, activity),
                    "occurred_at": _timestamps(rng, day).dt.replace_time_zone("UTC"),
                }
            )
        )
    rows = pl.concat(frames).filter(pl.col("occurred_at").dt.date() <= last)
    account_ids = accounts["account_id"].to_numpy()
    return rows.with_columns(
        pl.Series("account_id", account_ids[rows["account_index"].to_numpy()]),
        pl.concat_str(pl.lit("ACT-"), pl.int_range(1, pl.len() + 1).cast(pl.String)).alias(
            "activity_id"
        ),
        pl.col("occurred_at").dt.date().alias("delivered_on"),
    )


def tickets(
    accounts: pl.DataFrame, first: dt.date, last: dt.date, rng: np.random.Generator
) -> pl.DataFrame:
    """Support tickets; each one is delivered when created and again when resolved."""
    start = np.datetime64(first) - BACKLOG_DAYS // 2
    span = (np.datetime64(last) - start).astype(int) + 1
    propensity = accounts["propensity"].to_numpy()
    seats = accounts["licensed_seats"].to_numpy()
    owner = _poisson_rows(rng, seats * 0.2 / 90 * span * (1.6 - propensity))
    count = owner.size
    row_propensity = propensity[owner]
    created = _timestamps(rng, start + rng.integers(0, span, count))
    resolve_hours = rng.exponential(24 + 120 * (1 - row_propensity), count)
    resolved = created + pl.Series((resolve_hours * 3600e6).astype(np.int64)).cast(
        pl.Duration("us")
    )
    priority = np.where(
        rng.random(count) < 0.02 + 0.25 * (1 - row_propensity),
        "urgent",
        np.where(
            rng.random(count) < 0.25, "high", np.where(rng.random(count) < 0.6, "normal", "low")
        ),
    )
    csat = np.clip(np.round(rng.normal(1.2 + 3.9 * row_propensity, 0.7)), 1, 5).astype(np.int64)
    sentiment_draw = rng.normal(row_propensity, 0.2)
    sentiment = np.where(
        sentiment_draw > 0.62, "positive", np.where(sentiment_draw > 0.38, "neutral", "negative")
    )
    kinds = np.array(["question", "incident", "problem", "feature_request"])
    frame = pl.DataFrame(
        {
            "ticket_id": np.char.add("T", np.arange(1, count + 1).astype(str)),
            "account_index": owner,
            "account_id": accounts["account_id"].to_numpy()[owner],
            "created_at": created.dt.replace_time_zone("UTC"),
            "resolved_at": resolved.dt.replace_time_zone("UTC"),
            "priority": priority,
            "escalated": rng.random(count) < 0.04 + 0.15 * (1 - row_propensity),
            "is_blocker": rng.random(count) < 0.03,
            "ticket_type": kinds[rng.choice(4, count, p=[0.45, 0.3, 0.1, 0.15])],
            "csat_score": np.where(rng.random(count) < 0.55, csat, -1),
            "sentiment": pl.Series(sentiment).set(pl.Series(rng.random(count) >= 0.8), None),
        }
    ).with_columns(pl.when(pl.col("csat_score") > 0).then(pl.col("csat_score")).alias("csat_score"))
    opened = frame.with_columns(
        pl.lit("open").alias("status"),
        pl.lit(None, dtype=pl.Int64).alias("csat_score"),
        pl.lit(None, dtype=pl.Datetime("us", "UTC")).alias("resolved_at"),
        pl.col("created_at").dt.date().alias("delivered_on"),
    )
    solved = frame.filter(pl.col("resolved_at").dt.date() <= last).with_columns(
        pl.lit("solved").alias("status"), pl.col("resolved_at").dt.date().alias("delivered_on")
    )
    return pl.concat([opened, solved], how="vertical_relaxed")


def surveys(
    contact_rows: pl.DataFrame,
    accounts: pl.DataFrame,
    first: dt.date,
    last: dt.date,
    rng: np.random.Generator,
) -> pl.DataFrame:
    start = np.datetime64(first) - BACKLOG_DAYS // 2
    span = (np.datetime64(last) - start).astype(int) + 1
    propensity = accounts["propensity"].to_numpy()[contact_rows["account_index"].to_numpy()]
    responder = _poisson_rows(rng, np.full(contact_rows.height, span / 150))
    count = responder.size
    row_propensity = propensity[responder]
    is_nps = rng.random(count) < 0.6
    nps = np.clip(np.round(rng.normal(2.5 + 8.5 * row_propensity, 1.3)), 0, 10)
    csat = np.clip(np.round(rng.normal(1.3 + 3.9 * row_propensity, 0.6)), 1, 5)
    comments = pl.Series(np.full(count, "Free-text feedback from the customer")).set(
        pl.Series(rng.random(count) >= 0.3), None
    )
    return pl.DataFrame(
        {
            "response_id": np.char.add("R", np.arange(1, count + 1).astype(str)),
            "account_id": contact_rows["account_id"].to_numpy()[responder],
            "contact_id": contact_rows["contact_id"].to_numpy()[responder],
            "survey_type": np.where(is_nps, "nps", "csat"),
            "score": np.where(is_nps, nps, csat).astype(np.int64),
            "responded_at": _timestamps(
                rng, start + rng.integers(0, span, count)
            ).dt.replace_time_zone("UTC"),
            "comment": comments,
        }
    ).with_columns(
        pl.col("responded_at").dt.date().alias("delivered_on"),
        # The survey tool exports local time with its offset.
        pl.col("responded_at").dt.convert_time_zone("Europe/Berlin"),
    )


def invoices(
    accounts: pl.DataFrame,
    subscription_rows: pl.DataFrame,
    first: dt.date,
    last: dt.date,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """Monthly invoices over the last year; delivered when issued and when paid."""
    months = pl.date_range(first - dt.timedelta(days=BACKLOG_DAYS), last, "1mo", eager=True)
    monthly = (
        subscription_rows.join(pl.DataFrame({"issued_date": months}), how="cross")
        .filter(
            (pl.col("start_date") <= pl.col("issued_date"))
            & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("issued_date")))
        )
        .group_by("account_id", "issued_date", "currency")
        .agg(pl.col("mrr").sum().round(2).alias("amount"))
    )
    monthly = monthly.join(accounts.select("account_id", "propensity"), on="account_id").sort(
        "account_id", "issued_date", "currency"
    )
    count = monthly.height
    row_propensity = monthly["propensity"].to_numpy()
    delay = np.round(rng.normal(20 - 30 * row_propensity, 8)).astype(int)  # days after due
    never = rng.random(count) < 0.04 * (1 - row_propensity) ** 2
    frame = (
        monthly.sort("account_id", "issued_date")
        .with_columns(
            pl.concat_str(pl.lit("INV-"), pl.int_range(1, pl.len() + 1).cast(pl.String)).alias(
                "invoice_id"
            ),
            (pl.col("issued_date") + pl.duration(days=30)).alias("due_date"),
        )
        .with_columns(
            (pl.col("due_date") + pl.Series(delay).cast(pl.Int64) * pl.duration(days=1)).alias(
                "paid_date"
            ),
            pl.Series("never", never),
        )
    )
    issued = frame.with_columns(
        pl.lit("open").alias("status"),
        pl.lit(None, dtype=pl.Date).alias("paid_date"),
        pl.col("issued_date").alias("delivered_on"),
    )
    paid = frame.filter(~pl.col("never") & (pl.col("paid_date") <= last)).with_columns(
        pl.lit("paid").alias("status"), pl.col("paid_date").alias("delivered_on")
    )
    lost = frame.filter(
        pl.col("never") & (pl.col("due_date") + pl.duration(days=90) <= last)
    ).with_columns(
        pl.lit("uncollectible").alias("status"),
        pl.lit(None, dtype=pl.Date).alias("paid_date"),
        (pl.col("due_date") + pl.duration(days=90)).alias("delivered_on"),
    )
    return pl.concat([issued, paid, lost], how="vertical_relaxed")


def milestones(accounts: pl.DataFrame, last: dt.date, rng: np.random.Generator) -> pl.DataFrame:
    recent = accounts.filter(pl.col("contract_start_date") > last - dt.timedelta(days=200))
    plan = pl.DataFrame(
        {"milestone": [m[0] for m in MILESTONES], "offset": [m[1] for m in MILESTONES]}
    )
    rows = recent.select("account_id", "contract_start_date", "propensity").join(plan, how="cross")
    count = rows.height
    row_propensity = rows["propensity"].to_numpy()
    lateness = np.round(rng.normal(12 * (1 - row_propensity) - 3, 4)).astype(np.int64)
    return rows.select(
        "account_id",
        "milestone",
        (pl.col("contract_start_date") + pl.duration(days=pl.col("offset"))).alias("due_date"),
    ).with_columns(
        (pl.col("due_date") + pl.Series(lateness) * pl.duration(days=1)).alias("completed_date"),
        pl.Series("skipped", rng.random(count) < 0.05),
    )


def crm_snapshot(accounts: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The CRM as it stands on `day`: accounts appear two weeks before their start."""
    return accounts.filter(pl.col("contract_start_date") <= day + dt.timedelta(days=14)).select(
        "account_id",
        "account_name",
        "industry",
        "csm_owner",
        "contract_start_date",
        "renewal_date",
        "licensed_seats",
        pl.when(pl.col("churn") & (pl.col("churn_date") <= day))
        .then(0.0)
        .otherwise((pl.col("arr_usd") / pl.col("rate")).round(2))
        .alias("arr"),
        "currency",
        "plan_tier",
        "executive_sponsor_identified",
        "executive_sponsor_engaged",
        "champion_present",
        "renewal_budget_confirmed",
    )


def with_export_faults(dataset: str, frame: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """A few rows that break the contract, as real exports have: a ticket resolved
    before it was opened, an activity type the contract does not know."""
    hit = pl.Series(rng.random(frame.height) < 0.003)
    if dataset == "support_tickets":
        return frame.with_columns(
            pl.when(hit & (pl.col("status") == "solved"))
            .then(pl.col("created_at") - pl.duration(hours=2))
            .otherwise(pl.col("resolved_at"))
            .alias("resolved_at")
        )
    if dataset == "crm_activities":
        return frame.with_columns(
            pl.when(hit)
            .then(pl.lit("webinar"))
            .otherwise(pl.col("activity_type"))
            .alias("activity_type")
        )
    return frame


def _write_csv(frame: pl.DataFrame, folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / name, datetime_format="%Y-%m-%dT%H:%M:%S%z")


def _deliver_incremental(
    frame: pl.DataFrame, root: Path, dataset: str, columns: list[str], first: dt.date
) -> None:
    """One folder per day; what happened before the window arrives with the first one,
    as each record stood then (one version per key)."""
    frame = (
        frame.sort("delivered_on")
        .with_columns(
            pl.max_horizontal(pl.col("delivered_on"), pl.lit(first)).alias("delivered_on")
        )
        .unique(subset=[columns[0], "delivered_on"], keep="last", maintain_order=True)
    )
    for (day,), part in frame.partition_by("delivered_on", as_dict=True).items():
        _write_csv(part.select(columns), root / dataset / day.isoformat(), f"{dataset}.csv")


# Written in the extracts folder of every book: only such a folder is ever replaced.
BOOK_MARKER = ".cshealth-demo-book"


def replace_problem(extracts_dir: Path) -> str | None:
    """Why a book must not be written to `extracts_dir`, which it replaces whole: a
    folder that holds anything but an earlier book (real extracts, say)."""
    if not extracts_dir.exists() or (extracts_dir / BOOK_MARKER).is_file():
        return None
    if not extracts_dir.is_dir():
        return f"{extracts_dir} is not a folder"
    if any(extracts_dir.iterdir()):
        return (
            f"{extracts_dir} holds files that are not a demo book, and the demo replaces "
            "the whole folder: give --extracts a new or empty folder"
        )
    return None


def generate_book(extracts_dir: Path, shape: BookShape) -> dict[str, int]:
    """Write the whole book, replacing an earlier one; returns row counts per dataset.
    Raises ValueError for a folder that holds anything else (replace_problem)."""
    problem = replace_problem(extracts_dir)
    if problem:
        raise ValueError(problem)
    rng = np.random.default_rng(shape.seed)
    first, last = shape.first_day, shape.last_day
    if extracts_dir.exists():
        shutil.rmtree(extracts_dir)
    extracts_dir.mkdir(parents=True)
    (extracts_dir / BOOK_MARKER).write_text(
        "Written by `cshealth demo`: replaced by the next one.\n"
    )
    accounts = draw_accounts(shape, rng)
    subscription_rows = subscriptions(accounts)
    user_rows = users(accounts, rng)
    contact_rows = contacts(accounts, rng)
    counts: dict[str, int] = {}
    days = [first + dt.timedelta(days=offset) for offset in range(shape.days)]
    weekly = {day for day in days if (last - day).days % 7 == 0} | {first}

    sub_columns = [
        "subscription_id",
        "account_id",
        "product",
        "start_date",
        "end_date",
        "mrr",
        "currency",
        "quantity",
    ]
    milestone_rows = milestones(accounts, last, rng)
    catalog = pl.DataFrame(
        {
            "feature": [f[0] for f in FEATURES],
            "is_core": [f[1] for f in FEATURES],
            "plan_tier": [f[2] for f in FEATURES],
        }
    )
    fx = pl.DataFrame(
        {
            "currency": [c for c in CURRENCIES if c != "USD"],
            "rate_to_usd": [CURRENCIES[c][1] for c in CURRENCIES if c != "USD"],
        }
    )
    next_event = 1
    for day in days:
        stamp = day.isoformat()
        crm = crm_snapshot(accounts, day)
        _write_csv(crm, extracts_dir / "crm_accounts" / stamp, "accounts.csv")
        counts["crm_accounts"] = counts.get("crm_accounts", 0) + crm.height
        subs = subscription_rows.filter(pl.col("known_from") <= day).select(sub_columns)
        _write_csv(subs, extracts_dir / "billing_subscriptions" / stamp, "subscriptions.csv")
        counts["billing_subscriptions"] = counts.get("billing_subscriptions", 0) + subs.height
        events = product_events(accounts, day, rng, next_event)
        next_event += events.height
        folder = extracts_dir / "product_events" / stamp
        folder.mkdir(parents=True, exist_ok=True)
        events.write_parquet(folder / "events.parquet", statistics=False)
        counts["product_events"] = counts.get("product_events", 0) + events.height
        if day in weekly:
            known = set(crm["account_id"].to_list())
            snapshot = {
                "crm_contacts": contact_rows.filter(pl.col("account_id").is_in(known)).drop(
                    "account_index"
                ),
                "product_users": user_rows.filter(pl.col("created_at").dt.date() <= day).drop(
                    "account_index"
                ),
                "onboarding_milestones": milestone_rows.filter(pl.col("account_id").is_in(known))
                .with_columns(
                    pl.when(~pl.col("skipped") & (pl.col("completed_date") <= day))
                    .then(pl.col("completed_date"))
                    .alias("completed_date")
                )
                .drop("skipped"),
                "feature_catalog": catalog,
                "fx_rates": fx,
            }
            for dataset, frame in snapshot.items():
                if dataset == "product_users":  # product analytics exports Parquet
                    folder = extracts_dir / dataset / stamp
                    folder.mkdir(parents=True, exist_ok=True)
                    frame.write_parquet(folder / "users.parquet")
                else:
                    _write_csv(frame, extracts_dir / dataset / stamp, f"{dataset}.csv")
                counts[dataset] = counts.get(dataset, 0) + frame.height

    incremental = {
        "crm_activities": (
            activities(accounts, first, last, rng),
            ["activity_id", "account_id", "activity_type", "occurred_at"],
        ),
        "support_tickets": (
            tickets(accounts, first, last, rng),
            [
                "ticket_id",
                "account_id",
                "created_at",
                "resolved_at",
                "priority",
                "status",
                "escalated",
                "is_blocker",
                "ticket_type",
                "csat_score",
                "sentiment",
            ],
        ),
        "surveys": (
            surveys(contact_rows, accounts, first, last, rng),
            [
                "response_id",
                "account_id",
                "contact_id",
                "survey_type",
                "score",
                "responded_at",
                "comment",
            ],
        ),
        "billing_invoices": (
            invoices(accounts, subscription_rows, first, last, rng),
            [
                "invoice_id",
                "account_id",
                "issued_date",
                "due_date",
                "paid_date",
                "amount",
                "currency",
                "status",
            ],
        ),
    }
    for dataset, (frame, columns) in incremental.items():
        frame = with_export_faults(dataset, frame, rng)
        _deliver_incremental(frame, extracts_dir, dataset, columns, first)
        counts[dataset] = frame.height
    return counts
