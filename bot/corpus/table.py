"""The data table: what was downloaded, what each rule dropped, what was kept, per source.

Its markdown form is the "| Data | Quantity |" table of the huggingtweets model cards, so the
trainer can put it in a model card as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.config import Config
from bot.corpus.rules import DUPLICATE, EMPTY, REASONS, REPLY, RETWEET, SHORT, CleaningRules
from bot.corpus.training import corpus_sources, source_verdicts
from bot.store import Store

# Labels of the "other drops" rows; retweets and short tweets have rows of their own.
_OTHER_LABELS = {REPLY: "Replies", EMPTY: "Empty after cleaning", DUPLICATE: "Duplicates"}


@dataclass(frozen=True)
class SourceCounts:
    """Counts for one source (or the total): downloaded, dropped by reason, kept."""

    downloaded: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; every reason is present, zero or not."""
        return {
            "downloaded": self.downloaded,
            "retweets": self.dropped.get(RETWEET, 0),
            "short": self.dropped.get(SHORT, 0),
            "dropped": {reason: self.dropped.get(reason, 0) for reason in REASONS},
            "kept": self.kept,
        }

    def rows(self) -> list[tuple[str, int]]:
        """(label, quantity) rows in huggingtweets order, other drops only when there are any."""
        rows = [
            ("Tweets downloaded", self.downloaded),
            ("Retweets", self.dropped.get(RETWEET, 0)),
            ("Short tweets", self.dropped.get(SHORT, 0)),
        ]
        rows += [
            (label, self.dropped[reason])
            for reason, label in _OTHER_LABELS.items()
            if self.dropped.get(reason)
        ]
        rows.append(("Tweets kept", self.kept))
        return rows

    def markdown(self) -> str:
        """The two-column markdown table."""
        lines = ["| Data | Quantity |", "| --- | --- |"]
        lines += [f"| {label} | {quantity} |" for label, quantity in self.rows()]
        return "\n".join(lines)


@dataclass(frozen=True)
class DataTable:
    """The data table of a corpus: one `SourceCounts` per source, and their total."""

    sources: dict[str, SourceCounts]
    total: SourceCounts

    def to_dict(self) -> dict[str, Any]:
        """`{"sources": {name: counts}, "total": counts}`, what `corpus --json` prints."""
        return {
            "sources": {name: counts.to_dict() for name, counts in self.sources.items()},
            "total": self.total.to_dict(),
        }

    def markdown(self) -> str:
        """One table per source, headed by its @name, and a total when there are several."""
        if not self.sources:
            return self.total.markdown()
        parts = [f"@{name}\n\n{counts.markdown()}" for name, counts in self.sources.items()]
        if len(self.sources) > 1:
            parts.append(f"Total\n\n{self.total.markdown()}")
        return "\n\n".join(parts)


def _counts(verdict_reasons: list[str | None]) -> SourceCounts:
    dropped = Counter(reason for reason in verdict_reasons if reason is not None)
    return SourceCounts(
        downloaded=len(verdict_reasons),
        kept=sum(1 for reason in verdict_reasons if reason is None),
        dropped=dict(dropped),
    )


def data_table(store: Store, config: Config) -> DataTable:
    """The data table of the stored tweets under the config's current rules."""
    rules = CleaningRules.from_config(config)
    sources: dict[str, SourceCounts] = {}
    every: list[str | None] = []
    for username in corpus_sources(store, config):
        reasons = [v.reason for _, v in source_verdicts(store, username, rules)]
        sources[username] = _counts(reasons)
        every += reasons
    return DataTable(sources=sources, total=_counts(every))
