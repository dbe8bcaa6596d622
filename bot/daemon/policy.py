"""When the bot may speak: quiet hours, post budgets, and which mentions deserve a reply.

Everything here is a pure function of the config, the store and a moment in time, so the rules
can be tested without a scheduler, a model or X. The daemon asks; this module only answers.
Every count is a named store query over the outbox's live rows (`LIVE_POST_STATUSES`), of one
network, and of the daemon's own kind (dry-run rows and live rows never count for each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.platform.base import Account, Mention
from bot.store import MentionRow, Network, Store, iso, parse_iso

# ---- quiet hours ---------------------------------------------------------------------------


def in_window(clock: time, window: tuple[time, time]) -> bool:
    """Whether a wall-clock time falls inside [start, end); the window may wrap midnight."""
    start, end = window
    if start == end:
        return False
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def is_quiet(moment: datetime, config: Config) -> bool:
    """Whether `moment` falls in the configured quiet hours (in the configured time zone)."""
    window = config.schedule.quiet_window()
    if window is None:
        return False
    local = moment.astimezone(ZoneInfo(config.schedule.timezone))
    return in_window(local.time().replace(tzinfo=None), window)


def after_quiet_hours(moment: datetime, config: Config) -> datetime:
    """`moment` itself, or the end of the quiet window it falls in (as aware UTC)."""
    window = config.schedule.quiet_window()
    if window is None or not is_quiet(moment, config):
        return moment
    zone = ZoneInfo(config.schedule.timezone)
    local = moment.astimezone(zone)
    end = local.replace(hour=window[1].hour, minute=window[1].minute, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    # Rebuild from the wall clock so a DST change inside the window lands on the right hour.
    end = datetime.combine(end.date(), window[1], tzinfo=zone)
    return end.astimezone(UTC)


# ---- budget caps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """Posts and replies made (or possibly made) today and this month, against the caps."""

    today: int
    per_day: int
    this_month: int
    per_month: int

    @property
    def exhausted(self) -> str | None:
        """The cap that is reached, as a sentence for the log and the outbox, or None."""
        if self.today >= self.per_day:
            return f"daily cap reached ({self.today}/{self.per_day} posts today)"
        if self.this_month >= self.per_month:
            return f"monthly cap reached ({self.this_month}/{self.per_month} posts this month)"
        return None


def day_and_month_start(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """Local midnight of `now`'s day and of its month's first day in `timezone`, as UTC."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    # From the wall clock, so a DST change that day still starts it at 00:00 local time.
    day = datetime.combine(local.date(), time(0), tzinfo=zone)
    month = datetime.combine(local.date().replace(day=1), time(0), tzinfo=zone)
    return day.astimezone(UTC), month.astimezone(UTC)


def budget(
    store: Store,
    config: Config,
    now: datetime,
    *,
    network: Network | str = Network.X,
    dry_run: bool = False,
) -> Budget:
    """Count one network's posts and replies against `[limits]`; days and months begin at
    midnight in `[schedule] timezone`. A dry run has its own budget, apart from the live one."""
    day_start, month_start = day_and_month_start(now, config.schedule.timezone)
    return Budget(
        today=store.count_posts_since(day_start, dry_run=dry_run, network=network),
        per_day=config.limits.posts_per_day,
        this_month=store.count_posts_since(month_start, dry_run=dry_run, network=network),
        per_month=config.limits.posts_per_month,
    )


# ---- reply policy --------------------------------------------------------------------------


def mention_to_row(mention: Mention) -> dict[str, object]:
    """A `Mention` as a row of the mentions table."""
    return {
        "id": mention.id,
        "author_id": mention.author_id,
        "author_username": mention.author_username,
        "text": mention.text,
        "conversation_id": mention.conversation_id,
        "in_reply_to_user_id": mention.in_reply_to_user_id,
        "in_reply_to_tweet_id": mention.in_reply_to_tweet_id,
        "created_at": iso(mention.created_at),
    }


def row_to_mention(row: MentionRow) -> Mention:
    """A stored mentions row back as a `Mention`."""
    return Mention(
        id=row.id,
        author_id=str(row.author_id),
        author_username=row.author_username or "",
        text=row.text or "",
        conversation_id=row.conversation_id or row.id,
        created_at=parse_iso(str(row.created_at)),
        in_reply_to_user_id=row.in_reply_to_user_id,
        in_reply_to_tweet_id=row.in_reply_to_tweet_id,
    )


def reason_to_ignore(
    mention: Mention,
    me: Account,
    store: Store,
    config: Config,
    now: datetime,
    *,
    network: Network | str = Network.X,
    dry_run: bool = False,
) -> str | None:
    """Why this mention must not be answered, or None when the bot may reply.

    The mention itself is expected to be in the store already (the loop check counts it).
    Budget caps are not checked here: a capped mention waits for the next day instead of
    being dropped for good.
    """
    rules = config.replies
    if mention.author_id == me.id or mention.author_username.lower() == me.username.lower():
        return "own tweet"
    if not rules.enabled:
        return "replies disabled"
    blocked = {name.lstrip("@").lower() for name in rules.blocked_users}
    if mention.author_username.lower() in blocked:
        return "blocked user"
    age = (now - mention.created_at).total_seconds()
    if age > rules.max_age:
        return f"older than max_age ({int(age)}s)"
    recent = store.count_live_replies(
        author_id=mention.author_id,
        since=now - timedelta(hours=1),
        network=network,
        dry_run=dry_run,
    )
    if recent >= rules.max_per_user_per_hour:
        return f"max_per_user_per_hour reached ({recent} replies in the last hour)"
    depth = store.count_live_replies(
        conversation_id=mention.conversation_id, network=network, dry_run=dry_run
    )
    if depth >= rules.max_thread_depth:
        return f"max_thread_depth reached ({depth} replies in this thread)"
    if _looks_like_a_bot_loop(mention, me, store, config, network=network, dry_run=dry_run):
        return "bot loop (replies faster than loop_min_interval, loop_replies times in a row)"
    return None


def _looks_like_a_bot_loop(
    mention: Mention,
    me: Account,
    store: Store,
    config: Config,
    *,
    network: Network | str,
    dry_run: bool,
) -> bool:
    """Another account answering our replies faster than a person could, several times running.

    Two bots replying to each other would otherwise talk until the budget is gone. The gap is
    measured from our tweet being posted to their reply to it.
    """
    rules = config.replies
    if mention.in_reply_to_user_id not in (me.id, None):
        return False
    gaps = store.answer_gaps(
        mention.author_id, rules.loop_replies, network=network, dry_run=dry_run
    )
    if len(gaps) < rules.loop_replies:
        return False
    return all(
        (answered - posted).total_seconds() < rules.loop_min_interval for posted, answered in gaps
    )
