"""The source corpus: fetch and archive import into the store, cleaning rules, training text.

The parts live in submodules (archive, fetch, rules, training, table); this package exports the
interface the trainer, the daemon and the CLI build on.
"""

from bot.corpus.archive import ArchiveError, ArchiveLimits, ImportSummary, import_archive
from bot.corpus.fetch import FetchSummary, SourceFetch, fetch_source, fetch_sources
from bot.corpus.rules import REASONS, CleaningRules, Verdict, clean_tweet, clean_tweets, normalize
from bot.corpus.table import DataTable, SourceCounts, data_table
from bot.corpus.training import (
    apply_rules,
    corpus_sources,
    source_texts,
    training_texts,
    weighted_texts,
)

__all__ = [
    "REASONS",
    "ArchiveError",
    "ArchiveLimits",
    "CleaningRules",
    "DataTable",
    "FetchSummary",
    "ImportSummary",
    "SourceCounts",
    "SourceFetch",
    "Verdict",
    "apply_rules",
    "clean_tweet",
    "clean_tweets",
    "corpus_sources",
    "data_table",
    "fetch_source",
    "fetch_sources",
    "import_archive",
    "normalize",
    "source_texts",
    "training_texts",
    "weighted_texts",
]
