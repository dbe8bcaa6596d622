"""The daemon's jobs as plain methods: post, answer mentions, retrain, heartbeat.

Nothing here knows about time passing: the scheduler (bot/scheduler.py) decides *when* each job
runs, and tests call the methods directly. Every object the jobs need (config, store, platform,
composer, generator, trainer, clock, random source) is handed in.

Crash safety rests on the outbox: a post or reply is written as `pending` before X is called and
marked afterwards. A row still `pending` when nobody is sending it means the process died (or X
gave no clear answer) mid-post; it is reconciled against the bot's own timeline and is never
sent again. A mention is answered at most once: a partial unique index on the outbox allows one
live reply per mention, whatever the code does.
"""

from __future__ import annotations

import html
import random
import re
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.config import Config
from bot.daemon import policy
from bot.daemon.retraining import TrainingFailed, TrainingOutcome
from bot.errors import BotError
from bot.logging import get_logger
from bot.platform.base import (
    Account,
    AuthError,
    BadResponse,
    DuplicateContent,
    Forbidden,
    InvalidRequest,
    Mention,
    NotFound,
    Platform,
    PlatformError,
    RateLimited,
    Unavailable,
)
from bot.store import Store, iso, parse_iso, utcnow

log = get_logger(__name__)

# How many of the bot's own recent tweets are searched when reconciling a pending row.
RECONCILE_LOOKBACK = 200


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


def normalize_text(text: str) -> str:
    """Text as compared when matching an outbox row with a tweet on X (X escapes and trims)."""
    return re.sub(r"\s+", " ", html.unescape(text)).strip().casefold()


class Daemon:
    """The bot's jobs. Thread-safe: the scheduler may run different jobs at the same time."""

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
        self._me: Account | None = None
        self._stopping = threading.Event()
        # One generation at a time: two would only share the same cores and double the memory.
        self._generation = threading.Lock()
        # A registry version that failed to load, so the heartbeat does not retry it forever.
        self._unloadable: Path | None = None
        # Outbox rows being sent right now; reconciliation must leave them alone.
        self._in_flight: set[int] = set()
        self._in_flight_lock = threading.Lock()

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
        """Settle `pending` rows nobody is sending: posted if on the timeline, else `unknown`.

        A row is never sent again: if X has it, re-sending duplicates it; if we cannot tell,
        staying silent costs one tweet, while a duplicate costs trust (and money).
        """
        rows = self._stale_pending()
        if not rows:
            return JobResult("nothing to reconcile")
        try:
            timeline = self._own_recent_tweets()
        except (AuthError, Forbidden) as exc:
            # The timeline cannot be read at all (a dry run without credentials, an API tier
            # without timelines): waiting will not help, and not re-sending is always safe.
            log.warning("cannot read the bot's timeline to reconcile", error=str(exc))
            timeline = {}
        settled = 0
        for row in rows:
            tweet_id = timeline.get(normalize_text(row["text"] or ""))
            if tweet_id is not None:
                self.store.mark_post(
                    row["id"], "posted", tweet_id=tweet_id, reason="found on timeline"
                )
                if row["mention_id"]:
                    self.store.mark_mention(row["mention_id"], "replied")
                log.info("pending post found on the timeline", post_id=row["id"], tweet_id=tweet_id)
            else:
                reason = "outcome unknown after a crash or an unclear answer; never re-sent"
                self.store.mark_post(row["id"], "unknown", reason=reason)
                if row["mention_id"]:
                    self.store.mark_mention(row["mention_id"], "failed", reason)
                log.warning("pending post not on the timeline: marked unknown", post_id=row["id"])
            settled += 1
        return JobResult("reconciled", f"{settled} row(s)")

    def _own_recent_tweets(self) -> dict[str, str]:
        """Normalized text -> tweet id of the bot's newest tweets (a few pages at most)."""
        found: dict[str, str] = {}
        for page in self.platform.user_tweets(self.me.username):
            for tweet in page:
                found.setdefault(normalize_text(tweet.text), tweet.id)
            if len(found) >= RECONCILE_LOOKBACK:
                break
        return found

    def _stale_pending(self) -> list[dict[str, Any]]:
        """Pending rows that no job of this process is sending."""
        # Under the same lock as `_write_pending`, so a row just written is never taken
        # for a leftover before its sender has claimed it.
        with self._in_flight_lock:
            rows = self.store.posts("pending", limit=1000)
            return [r for r in rows if r["id"] not in self._in_flight]

    def _write_pending(self, kind: str, text: str, **fields: Any) -> int:
        """Write an outbox row as `pending`, claimed by the caller, which must `_send` it."""
        with self._in_flight_lock:
            post_id = self.store.add_pending_post(kind, text, **fields)
            self._in_flight.add(post_id)
            return post_id

    def _reconcile_quietly(self) -> None:
        """Reconcile before a job sends; if X cannot be asked now, the rows wait (still safe:
        pending rows count against the caps and hold their mention's one reply).
        With nothing pending, `reconcile_outbox` returns before asking X anything."""
        try:
            self.reconcile_outbox()
        except BotError as exc:
            log.warning("cannot reconcile the outbox now; will retry", error=str(exc))

    def _send(self, post_id: int, text: str, in_reply_to: str | None) -> str:
        """Call X for one outbox row and record the outcome: posted, failed or pending.

        RateLimited is recorded and re-raised so the scheduler pauses this job.
        """
        try:
            tweet_id = self.platform.post(text, in_reply_to=in_reply_to)
        except RateLimited as exc:
            # 429: X refused the request, so nothing was created and a later retry is safe.
            self.store.mark_post(post_id, "failed", reason=f"rate limited: {exc}")
            raise
        except (DuplicateContent, Forbidden, AuthError, InvalidRequest, NotFound) as exc:
            # X answered "no" (a duplicate, a reply to a deleted tweet, ...): nothing exists.
            self.store.mark_post(post_id, "failed", reason=f"{type(exc).__name__}: {exc}")
            log.warning("X refused the tweet", post_id=post_id, error=str(exc))
            return "failed"
        except (Unavailable, BadResponse, PlatformError) as exc:
            # A timeout or a garbled answer does not tell whether the tweet exists: the row
            # stays pending and the next run looks for it on the timeline instead of re-sending.
            log.warning("no clear answer from X; will reconcile", post_id=post_id, error=str(exc))
            return "pending"
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(post_id)
        self.store.mark_post(post_id, "posted", tweet_id=tweet_id)
        if self.on_posted is not None:
            self.on_posted(text)
        return "posted"

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
        moments = [self.store.last_post_time("post")]
        attempt = self.store.get_state("last_attempt:post")
        if attempt:
            moments.append(parse_iso(attempt))
        known = [m for m in moments if m is not None]
        return max(known) if known else None

    def post_once(self) -> JobResult:
        """Generate one tweet and post it, unless quiet hours, a cap or the filters say no."""
        if self.stopping:
            return JobResult("stopping")
        now = self.clock()
        if policy.is_quiet(now, self.config):
            log.info("quiet hours: no post now")
            return JobResult("quiet hours")
        self._reconcile_quietly()
        self.store.set_state("last_attempt:post", iso(now))
        cap = policy.budget(self.store, self.config, now).exhausted
        if cap:
            log.warning(f"post skipped: {cap}")
            self.store.record_skip("post", cap)
            return JobResult("capped", cap)
        with self._generation:
            # The composer picks one of `[generation] prompts` itself.
            draft = self.composer.post()
        prompt = getattr(draft, "prompt", None)
        version = self.model_version
        if draft.text is None:
            reason = draft.skip_reason or "no candidate passed the filters"
            self.store.record_skip("post", reason, prompt=prompt, model_version=version)
            log.info("post skipped", reason=reason)
            return JobResult("skipped", reason)
        if self.stopping:
            return JobResult("stopping")
        post_id = self._write_pending("post", draft.text, prompt=prompt, model_version=version)
        outcome = self._send(post_id, draft.text, None)
        log.info("post " + outcome, post_id=post_id, text=draft.text)
        return JobResult(outcome, draft.text)

    # ---- mentions --------------------------------------------------------------------------

    def reply_to_mentions(self) -> JobResult:
        """Fetch new mentions, store them, and answer each one the reply policy allows."""
        if self.stopping:
            return JobResult("stopping")
        if not self.config.replies.enabled:
            return JobResult("replies disabled")
        self._reconcile_quietly()
        me = self.me
        fresh = self.platform.mentions(since_id=self.store.since_id("mentions"))
        if fresh:
            self.store.insert_mentions(policy.mention_to_row(m) for m in fresh)
            self.store.set_since_id("mentions", max(fresh, key=lambda m: int(m.id)).id)
        replied = 0
        for row in self.store.mentions("new"):
            if self.stopping:
                break
            mention = policy.row_to_mention(row)
            now = self.clock()
            reason = policy.reason_to_ignore(mention, me, self.store, self.config, now)
            if reason is not None:
                self._ignore(mention, reason)
                continue
            cap = policy.budget(self.store, self.config, now).exhausted
            if cap:
                # Left `new`: answered when the budget allows, unless it is too old by then.
                log.warning(f"replies paused: {cap}")
                break
            if self._answer(mention):
                replied += 1
        return JobResult("replied", f"{replied} repl{'y' if replied == 1 else 'ies'}")

    def _ignore(self, mention: Mention, reason: str) -> None:
        self.store.mark_mention(mention.id, "ignored", reason)
        if reason != "own tweet":
            self.store.record_skip("reply", reason, mention_id=mention.id)
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
            self.store.record_skip("reply", reason, mention_id=mention.id, model_version=version)
            self.store.mark_mention(mention.id, "ignored", reason)
            log.info("reply skipped", mention_id=mention.id, reason=reason)
            return False
        if self.stopping:
            return False
        try:
            post_id = self._write_pending(
                "reply",
                draft.text,
                model_version=version,
                mention_id=mention.id,
                in_reply_to_id=mention.id,
            )
        except sqlite3.IntegrityError:
            # The database already holds a live reply to this mention: never a second one.
            self.store.mark_mention(mention.id, "replied", "already answered")
            return False
        try:
            outcome = self._send(post_id, draft.text, mention.id)
        except RateLimited:
            log.warning("rate limited while replying; the mention waits", mention_id=mention.id)
            raise
        if outcome == "posted":
            self.store.mark_mention(mention.id, "replied")
        elif outcome == "failed":
            self.store.mark_mention(mention.id, "failed", "X refused the reply")
        else:
            self.store.mark_mention(mention.id, "failed", "reply outcome unknown; reconciling")
        log.info("reply " + outcome, post_id=post_id, mention_id=mention.id, text=draft.text)
        return outcome == "posted"

    # ---- retraining ------------------------------------------------------------------------

    def _tweet_count(self) -> int:
        return int(self.store.query("SELECT count(*) AS n FROM tweets")[0]["n"])

    def new_kept_tweets(self) -> int:
        """Kept source tweets fetched since the current model was trained (all, before one)."""
        current = self.store.current_model()
        since = current["created_at"] if current else ""
        rows = self.store.query(
            "SELECT count(*) AS n FROM tweets WHERE kept = 1 AND coalesce(fetched_at, '') > ?",
            [since],
        )
        return int(rows[0]["n"])

    def retrain(self) -> JobResult:
        """Fetch new source tweets; with enough new ones, train in a child and hot-swap."""
        if self.stopping:
            return JobResult("stopping")
        if self.fetch is not None:
            before = self._tweet_count()
            try:
                self.fetch(self.store, self.platform, self.config)
            except BotError as exc:
                # No sources, no credentials, X down: tweets imported by other means may
                # still be enough to train on, so go on with what the store holds.
                log.warning("fetching new source tweets failed", error=str(exc))
            if self._tweet_count() != before and self.on_sources_changed:
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
        row = self.store.model_version(result.version) if result.version else None
        path = result.raw.get("path") or (row["path"] if row else None)
        if not path:
            log.error("promoted version has no path in the registry", version=result.version)
            return JobResult("failed", "no path for the promoted version")
        if self.generator is not None:
            try:
                self.generator.reload(path)
            except BotError as exc:
                # The registry already names the new version (a restart would load it); until
                # then the daemon keeps generating with the model it has.
                log.error(
                    "the promoted version failed to load; still using the old model",
                    version=result.version,
                    in_use=self.model_version,
                    error=str(exc),
                )
                return JobResult("reload failed", str(exc))
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

        This is how a manual rollback (`models promote OLD`) reaches a running daemon. A
        version that fails to load is tried once, not at every beat; the model in use stays.
        """
        current = self.store.current_model()
        if self.generator is None or current is None:
            return JobResult("no model to follow")
        wanted = Path(current["path"]).resolve()
        if Path(self.generator.model_dir).resolve() == wanted:
            return JobResult("up to date")
        if wanted == self._unloadable:
            return JobResult("current version unloadable")
        try:
            self.generator.reload(wanted)
        except BotError as exc:
            self._unloadable = wanted
            log.error(
                "the registry's current version failed to load; still using the old model",
                version=current["version"],
                in_use=self.model_version,
                error=str(exc),
            )
            return JobResult("reload failed", str(exc))
        log.info("model switched to the registry's current version", version=current["version"])
        return JobResult("switched", current["version"])
