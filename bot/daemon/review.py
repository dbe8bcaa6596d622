"""Review mode's parts outside the store: the filters' judgement of an operator's edit, and
the alternates an approve-mode draft keeps.

The store's review queries (bot/store/review.py) know no filters; the console, the CLI and the
daemon hand them the judge built here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.config import Config
from bot.store import PostKind, Store, utcnow
from bot.store.review import MAX_ALTERNATES, ReviewItem, TextJudge


def filters_judge(config: Config, store: Store) -> TextJudge:
    """Judge a new text for a review item exactly as the composer judges a candidate: the
    item's network, its dry-run or live world, a reply's @author allowed.

    The item's own current text is left out of the dedupe memory: fixing a typo must not be
    refused as "too similar to a recent post" because of the very text it replaces.
    """
    from bot.corpus import source_texts
    from bot.filters import Filters

    sources: list[str] | None = None

    def judge(text: str, item: ReviewItem) -> list[tuple[str, str]]:
        nonlocal sources
        if sources is None:
            sources = list(source_texts(store))
        since = utcnow() - timedelta(seconds=config.filters.dedupe_for)
        own = store.posted_texts_since(since, dry_run=item.row.dry_run, network=item.network)
        if item.text in own:
            own.remove(item.text)
        filters = Filters.from_config(config, sources, own, network=item.network)
        handle = item.mention_author if item.kind == PostKind.REPLY else None
        verdicts = filters.check(text, reply_to_username=handle)
        return [(v.rule, v.reason or "") for v in verdicts if not v.passed]

    return judge


def alternates_of(draft: Any) -> list[str]:
    """Other passing candidates of a draft, most confident first (at most MAX_ALTERNATES)."""
    candidates = getattr(draft, "candidates", None) or []
    passing = sorted(
        (c for c in candidates if c.passed and c.text != draft.text),
        key=lambda c: c.mean_logprob,
        reverse=True,
    )
    return list(dict.fromkeys(c.text for c in passing))[:MAX_ALTERNATES]
