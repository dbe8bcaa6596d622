"""The daemon's jobs as plain methods: post, answer mentions, retrain, heartbeat.

Nothing here knows about time passing: the scheduler (bot/scheduler.py) decides *when* each job
runs, and tests call the methods directly. Every object the jobs need (config, store, platform,
composer, generator, trainer, clock, random source) is handed in.

Crash safety rests on the outbox (bot/daemon/outbox.py): claim -> send -> record -> release,
and reconcile of what a crash left `pending`. A mention is answered at most once: a partial
unique index on the outbox allows one live reply per mention, whatever the code does.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.config import Config
from bot.daemon import policy
from bot.daemon.outbox import Outbox
from bot.daemon.retraining import TrainingFailed, TrainingOutcome
from bot.daemon.review import alternates_of
from bot.errors import BotError
from bot.logging import get_logger
from bot.platform.base import Account, Mention, Platform, RateLimited
from bot.store import (
    MentionStatus,
    Network,
    PostKind,
    PostStatus,
    ReplyExists,
    Store,
    iso,
    parse_iso,
    utcnow,
)
from bot.store import review as review_queue

log = get_logger(__name__)


class Draft(Protocol):
    """What the composer returns (bot/daemon/composer.py): a text, or None with a reason."""

    text: str | None
    skip_reason: str | None


class ComposerLike(Protocol):
    """The part of the Composer the daemon uses."""

    def post(self, prompt: str | None = None) -> Any: ...

    def reply(self, mention: Mention) -> Any: ...


class GeneratorLike(Protocol):
    """The part of the Generator the daemon uses: its version and a hot swap."""

    @property
    def version(self) -> str | None: ...

    @property
    def model_dir(self) -> Path: ...

    def reload(self, model_dir: Any) -> Any: ...


class TrainerLike(Protocol):
    """Runs one training in a child process (bot/daemon/retraining.py)."""

    def run(self) -> TrainingOutcome: ...

    def terminate(self) -> None: ...


# fetch(store, platform, config) fetches new source tweets; its result is not used here.
Fetcher = Callable[[Store, Platform, Config], object]


@dataclass(frozen=True)
class JobResult:
    """What a job did, in one word plus detail, for logs and tests."""

    outcome: str
    detail: str = ""


class Daemon:
    """The bot's jobs on one network. Thread-safe: the scheduler may run different jobs at
    the same time.

    `dry_run` marks every outbox row this daemon writes, and its caps, dedupe and schedule
    count only dry-run rows (a live daemon only live ones); the platform handed in must be
    the dry-run one then (app.py builds both from the same flag).
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        platform: Platform,
        composer: ComposerLike,
        generator: GeneratorLike | None = None,
        *,
        trainer: TrainerLike | None = None,
        fetch: Fetcher | None = None,
        on_sources_changed: Callable[[], None] | None = None,
        on_posted: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        dry_run: bool = False,
        network: Network | str = Network.X,
    ) -> None:
        self.config = config
        self.store = store
        self.platform = platform
        self.composer = composer
        self.generator = generator
        self.trainer = trainer
        self.fetch = fetch
        self.on_sources_changed = on_sources_changed
        self.on_posted = on_posted
        self.clock = clock
        self.rng = rng or random.Random()
        self.dry_run = dry_run
        self.network = Network(network)
        self._me: Account | None = None
        self._stopping = threading.Event()
        # One generation at a time: two would only share the same cores and double the memory.
        self._generation = threading.Lock()
        # One registry follow at a time: the heartbeat and the retrain job both follow it.
        self._following = threading.Lock()
        # A registry version that failed to load, so the heartbeat does not retry it forever.
        self._unloadable: Path | None = None
        # The model directory this daemon last switched to, so following the registry never
        # loads the same version twice (whatever path spelling the generator reports).
        self._loaded: Path | None = None
        self.outbox = Outbox(
            store,
            platform,
            lambda: self.me,
            network=self.network,
            dry_run=dry_run,
            on_posted=on_posted,
        )

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def me(self) -> Account:
        """The bot's own account, asked of the platform once."""
        if self._me is None:
            self._me = self.platform.me()
            log.info("signed in", username=self._me.username, user_id=self._me.id)
        return self._me

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request_stop(self) -> None:
        """Start nothing new, send nothing new, and stop a running training child."""
        self._stopping.set()
        if self.trainer is not None:
            self.trainer.terminate()

    # ---- outbox ----------------------------------------------------------------------------

    def reconcile_outbox(self) -> JobResult:
        """Settle `pending` rows nobody is sending (see bot/daemon/outbox.py); the scheduler
        calls this at start, and every job that sends reconciles first."""
        settled = self.outbox.reconcile()
        if not settled:
            return JobResult("nothing to reconcile")
        return JobResult("reconciled", f"{settled} row(s)")

    @property
    def model_version(self) -> str | None:
        return self.generator.version if self.generator is not None else None

    # ---- scheduled posts -------------------------------------------------------------------

    def next_post_time(self, now: datetime | None = None) -> datetime:
        """When the next scheduled post is due, from the last post (or attempt) in the store.

        A planned time stored by an earlier run is kept if it is still valid, so a restart
        neither posts early nor re-rolls the jitter; the result is never inside quiet hours.
        """
        now = now or self.clock()
        every = timedelta(seconds=self.config.schedule.post_every)
        jitter = self.config.schedule.post_jitter
        last = self._last_post_attempt()
        if last is None:
            due = now
        else:
            earliest = last + every - timedelta(seconds=jitter)
            planned = self.store.get_state("next_run:post")
            planned_at = parse_iso(planned) if planned else None
            if planned_at is not None and earliest <= planned_at <= earliest + 2 * (
                timedelta(seconds=jitter)
            ):
                due = planned_at
            else:
                due = last + every + timedelta(seconds=self.rng.uniform(-jitter, jitter))
        return policy.after_quiet_hours(max(due, now), self.config)

    def _last_post_attempt(self) -> datetime | None:
        moments = [
            self.store.last_post_time(PostKind.POST, dry_run=self.dry_run, network=self.network)
        ]
        attempt = self.store.get_state("last_attempt:post")
        if attempt:
            moments.append(parse_iso(attempt))
        known = [m for m in moments if m is not None]
        return max(known) if known else None

    def _budget(self, now: datetime) -> policy.Budget:
        return policy.budget(
            self.store, self.config, now, network=self.network, dry_run=self.dry_run
        )

    def _skip(self, kind: PostKind, reason: str, **fields: Any) -> None:
        self.store.record_skip(kind, reason, network=self.network, dry_run=self.dry_run, **fields)

    # ---- review mode -----------------------------------------------------------------------

    def _approving(self, kind: PostKind) -> bool:
        """Whether `[review]` makes this kind of row wait for an operator."""
        mode = self.config.review.posts if kind == PostKind.POST else self.config.review.replies
        return mode == "approve"

    def expire_reviews(self, now: datetime | None = None) -> int:
        """Expire what waited too long: items not reviewed within `[review] expire_after`,
        and replies (waiting or approved) whose mention is older than `[replies] max_age`."""
        now = now or self.clock()
        after = self.config.review.expire_after
        stale = review_queue.expire_older_than(
            self.store, now - timedelta(seconds=after), f"not reviewed within {_span(after)}"
        )
        late = review_queue.expire_replies_to_old_mentions(
            self.store,
            now - timedelta(seconds=self.config.replies.max_age),
            "mention older than [replies] max_age",
        )
        for post_id in stale + late:
            log.info("review item expired", post_id=post_id)
        return len(stale) + len(late)

    def _send_approved(self, kind: PostKind, now: datetime) -> JobResult | None:
        """Send the oldest approved row of this kind (this network, live or dry run) under
        the usual outbox rules; None when there is none to send.

        The row has held its place in the budget since it was drafted, so the cap check
        leaves it out; a cap reached meanwhile keeps it approved until the budget allows.
        """
        for item in review_queue.approved(
            self.store, kind, network=self.network, dry_run=self.dry_run
        ):
            cap = self._cap_without(item.row.created_at, now)
            if cap:
                log.warning(f"approved {kind} waits: {cap}", post_id=item.id)
                return JobResult("capped", cap)
            row = self.outbox.claim(item.id)
            if row is None:
                continue  # rejected or taken meanwhile
            outcome = self.outbox.send(row)
            if kind == PostKind.REPLY and outcome is PostStatus.PENDING:
                self.store.mark_mention(
                    row.mention_id or "", MentionStatus.FAILED,
                    "reply outcome unknown; reconciling", self.network,
                )  # fmt: skip
            log.info(f"approved {kind} {outcome}", post_id=row.id, text=row.text)
            return JobResult(str(outcome), row.text or "")
        return None

    def _cap_without(self, created_at: str, now: datetime) -> str | None:
        """The cap reached by everything but one row already counted (written at
        `created_at`), or None."""
        spent = self._budget(now)
        day_start, month_start = policy.day_and_month_start(now, self.config.schedule.timezone)
        created = parse_iso(created_at)
        return policy.Budget(
            today=spent.today - int(created >= day_start),
            per_day=spent.per_day,
            this_month=spent.this_month - int(created >= month_start),
            per_month=spent.per_month,
        ).exhausted

    def _waiting(self, kind: PostKind) -> bool:
        """Whether a row of this kind (this network, live or dry run) waits for review."""
        return any(
            item.kind == kind and item.network == self.network
            and item.row.dry_run == self.dry_run
            for item in review_queue.awaiting(self.store)
        )  # fmt: skip

    def post_once(self) -> JobResult:
        """Generate one post and send it, unless quiet hours, a cap or the filters say no."""
        if self.stopping:
            return JobResult("stopping")
        now = self.clock()
        if policy.is_quiet(now, self.config):
            log.info("quiet hours: no post now")
            return JobResult("quiet hours")
        self.outbox.reconcile_quietly()
        self.store.set_state("last_attempt:post", iso(now))
        self.expire_reviews(now)
        # An approved post is this slot's post (whatever the mode is now).
        sent = self._send_approved(PostKind.POST, now)
        if sent is not None:
            return sent
        approving = self._approving(PostKind.POST)
        if approving and self._waiting(PostKind.POST):
            # One draft waits at a time: an absent operator comes back to one item, not to a
            # day's worth of stale ones, and drafts hold at most one slot of the budget.
            return JobResult("awaiting review")
        cap = self._budget(now).exhausted
        if cap:
            log.warning(f"post skipped: {cap}")
            self._skip(PostKind.POST, cap)
            return JobResult("capped", cap)
        with self._generation:
            # The composer picks one of `[generation] prompts` itself.
            draft = self.composer.post()
        prompt = getattr(draft, "prompt", None)
        version = self.model_version
        if draft.text is None:
            reason = draft.skip_reason or "no candidate passed the filters"
            self._skip(PostKind.POST, reason, prompt=prompt, model_version=version)
            log.info("post skipped", reason=reason)
            return JobResult("skipped", reason)
        if self.stopping:
            return JobResult("stopping")
        if approving:
            waiting = review_queue.add_for_review(
                self.store, PostKind.POST, draft.text, alternates_of(draft),
                network=self.network, dry_run=self.dry_run, prompt=prompt, model_version=version,
            )  # fmt: skip
            log.info("post awaiting review", post_id=waiting.id, text=draft.text)
            return JobResult("awaiting review", draft.text)
        row = self.outbox.write(PostKind.POST, draft.text, prompt=prompt, model_version=version)
        outcome = self.outbox.send(row)
        log.info(f"post {outcome}", post_id=row.id, text=draft.text)
        return JobResult(str(outcome), draft.text)

    # ---- mentions --------------------------------------------------------------------------

    def reply_to_mentions(self) -> JobResult:
        """Fetch new mentions, store them, and answer each one the reply policy allows.

        On the first start on a network (no since_id, no baseline) the mentions already there
        are history: the since_id moves past them and none is stored or answered.
        """
        if self.stopping:
            return JobResult("stopping")
        if not self.config.replies.enabled:
            return JobResult("replies disabled")
        self.outbox.reconcile_quietly()
        me = self.me
        since = self.store.since_id("mentions", self.network)
        if since is None and self.store.mentions_baseline(self.network) is None:
            backlog = self.platform.mentions(since_id=None)
            self.store.set_mentions_baseline(_newest_id(backlog), self.network)
            log.info("first start: earlier mentions are left unanswered", count=len(backlog))
            return JobResult("baseline", f"{len(backlog)} earlier mention(s) left alone")
        sent = self._send_approved_replies()
        fresh = self.platform.mentions(since_id=since)
        newest = _newest_id(fresh)
        if newest is not None:
            self.store.store_mentions_page(
                (policy.mention_to_row(m) for m in fresh), newest, self.network
            )
        replied = sent
        open_replies = self._open_reply_mentions()
        for row in self.store.mentions(MentionStatus.NEW, self.network):
            if self.stopping:
                break
            if row.id in open_replies:
                continue  # its reply waits for the operator, or for its turn to be sent
            mention = policy.row_to_mention(row)
            now = self.clock()
            reason = policy.reason_to_ignore(
                mention,
                me,
                self.store,
                self.config,
                now,
                network=self.network,
                dry_run=self.dry_run,
            )
            if reason is not None:
                self._ignore(mention, reason)
                continue
            cap = self._budget(now).exhausted
            if cap:
                # Left `new`: answered when the budget allows, unless it is too old by then.
                log.warning(f"replies paused: {cap}")
                break
            if self._answer(mention):
                replied += 1
        return JobResult("replied", f"{replied} repl{'y' if replied == 1 else 'ies'}")

    def _send_approved_replies(self) -> int:
        """Send every approved reply the budget allows (each within one mentions_every of its
        approval); returns how many were posted."""
        now = self.clock()
        self.expire_reviews(now)
        posted = 0
        while not self.stopping:
            result = self._send_approved(PostKind.REPLY, now)
            if result is None or result.outcome == "capped":
                break
            posted += result.outcome == str(PostStatus.POSTED)
        return posted

    def _open_reply_mentions(self) -> set[str]:
        """Mentions of this network whose reply waits for review or for sending."""
        items = review_queue.awaiting(self.store) + review_queue.approved(
            self.store, PostKind.REPLY, network=self.network, dry_run=self.dry_run
        )
        return {
            i.row.mention_id for i in items
            if i.row.mention_id and i.network == self.network and i.row.dry_run == self.dry_run
        }  # fmt: skip

    def _ignore(self, mention: Mention, reason: str) -> None:
        self.store.mark_mention(mention.id, MentionStatus.IGNORED, reason, self.network)
        if reason != "own tweet":
            self._skip(PostKind.REPLY, reason, mention_id=mention.id)
        log.info(
            "mention ignored", mention_id=mention.id, author=mention.author_username, reason=reason
        )

    def _answer(self, mention: Mention) -> bool:
        """Compose, write to the outbox, send; True when the reply was posted."""
        with self._generation:
            draft = self.composer.reply(mention)
        version = self.model_version
        if draft.text is None:
            reason = draft.skip_reason or "no candidate passed the filters"
            self._skip(PostKind.REPLY, reason, mention_id=mention.id, model_version=version)
            self.store.mark_mention(mention.id, MentionStatus.IGNORED, reason, self.network)
            log.info("reply skipped", mention_id=mention.id, reason=reason)
            return False
        if self.stopping:
            return False
        if self._approving(PostKind.REPLY):
            try:
                waiting = review_queue.add_for_review(
                    self.store, PostKind.REPLY, draft.text, alternates_of(draft),
                    network=self.network, dry_run=self.dry_run, model_version=version,
                    mention_id=mention.id, in_reply_to_id=mention.id,
                )  # fmt: skip
            except ReplyExists:
                self.store.mark_mention(
                    mention.id, MentionStatus.REPLIED, "already answered", self.network
                )
                return False
            log.info("reply awaiting review", post_id=waiting.id, mention_id=mention.id)
            return False
        try:
            row = self.outbox.write(
                PostKind.REPLY,
                draft.text,
                model_version=version,
                mention_id=mention.id,
                in_reply_to_id=mention.id,
            )
        except ReplyExists:
            # The database already holds a live reply to this mention: never a second one.
            self.store.mark_mention(
                mention.id, MentionStatus.REPLIED, "already answered", self.network
            )
            return False
        try:
            outcome = self.outbox.send(row)
        except RateLimited:
            log.warning("rate limited while replying; the mention waits", mention_id=mention.id)
            raise
        if outcome is PostStatus.PENDING:
            self.store.mark_mention(
                mention.id, MentionStatus.FAILED, "reply outcome unknown; reconciling", self.network
            )
        log.info(f"reply {outcome}", post_id=row.id, mention_id=mention.id, text=draft.text)
        return outcome is PostStatus.POSTED

    # ---- retraining ------------------------------------------------------------------------

    def new_kept_tweets(self) -> int:
        """Kept source tweets fetched since the current model was trained (all, before one)."""
        current = self.store.current_model()
        return self.store.count_kept_fetched_after(current.created_at if current else None)

    def retrain(self) -> JobResult:
        """Fetch new source tweets; with enough new ones, train in a child and hot-swap."""
        if self.stopping:
            return JobResult("stopping")
        if self.fetch is not None:
            before = self.store.tweet_count()
            try:
                self.fetch(self.store, self.platform, self.config)
            except BotError as exc:
                # No sources, no credentials, X down: tweets imported by other means may
                # still be enough to train on, so go on with what the store holds.
                log.warning("fetching new source tweets failed", error=str(exc))
            if self.store.tweet_count() != before and self.on_sources_changed:
                self.on_sources_changed()
        new = self.new_kept_tweets()
        wanted = self.config.training.min_new_tweets
        if new < wanted:
            log.info("retrain skipped: too few new tweets", new_kept=new, min_new_tweets=wanted)
            return JobResult("too few new tweets", f"{new} < {wanted}")
        if self.trainer is None:
            return JobResult("no trainer")
        log.info("retraining", new_kept=new)
        try:
            result = self.trainer.run()
        except TrainingFailed as exc:
            log.error("training failed; the current model stays", error=str(exc))
            return JobResult("failed", str(exc))
        if not result.promoted:
            log.info("new version not promoted", version=result.version, eval_loss=result.eval_loss)
            return JobResult("not promoted", result.version or "")
        # The registry is the one owner of "which model": load what it names now, the same
        # way the heartbeat does, so the next beat finds it already loaded.
        followed = self.follow_registry()
        if followed.outcome in ("reload failed", "current version unloadable"):
            return JobResult("reload failed", followed.detail)
        if followed.outcome == "no model to follow" and self.generator is not None:
            log.error("promoted version is not current in the registry", version=result.version)
            return JobResult("failed", "no current version in the registry")
        if self.on_sources_changed is not None:
            self.on_sources_changed()
        log.info("new model in use", version=result.version, eval_loss=result.eval_loss)
        return JobResult("promoted", result.version or "")

    # ---- heartbeat -------------------------------------------------------------------------

    def heartbeat(self) -> JobResult:
        """Record that the daemon is alive (read by `tweetbot health`), then follow the
        registry, so a `tweetbot models promote` takes effect without a restart."""
        self.store.beat(self.clock())
        followed = self.follow_registry()
        return JobResult("beat", followed.outcome)

    def follow_registry(self) -> JobResult:
        """Load the registry's current version when it is not the model in use.

        The one place the daemon switches models (the retrain job calls it too), under a
        lock, so two jobs never load the same version twice. This is how a manual rollback
        (`models promote OLD`) reaches a running daemon. A version that fails to load is
        tried once, not at every beat; the model in use stays.
        """
        with self._following:
            current = self.store.current_model()
            if self.generator is None or current is None:
                return JobResult("no model to follow")
            wanted = Path(current.path).resolve()
            if wanted == self._loaded or Path(self.generator.model_dir).resolve() == wanted:
                self._loaded = wanted
                return JobResult("up to date")
            if wanted == self._unloadable:
                return JobResult("current version unloadable")
            try:
                self.generator.reload(wanted)
            except BotError as exc:
                self._unloadable = wanted
                log.error(
                    "the registry's current version failed to load; still using the old model",
                    version=current.version,
                    in_use=self.model_version,
                    error=str(exc),
                )
                return JobResult("reload failed", str(exc))
            self._loaded = wanted
            log.info("model switched to the registry's current version", version=current.version)
            return JobResult("switched", current.version)


def _span(seconds: float) -> str:
    """A duration as the config writes it: "24h", "90m", "45s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _newest_id(mentions: list[Mention]) -> str | None:
    """The since-marker after a batch: the largest snowflake, else the last (platforms list
    oldest first). Each mention's `since_marker` is its network's own (X: the id; Mastodon:
    the notification id; Bluesky: the notification's indexing time)."""
    if not mentions:
        return None
    markers = [m.since_marker for m in mentions]
    if all(marker.isdecimal() for marker in markers):
        return max(markers, key=int)
    return markers[-1]
