"""X's counting: conformance pass counts of each approach, and throughput of weighted_length.

    python bench/bench_textlen.py [--texts 5000]

Approaches: `twitter-text-parser` alone (`parse_tweet`, `extract_urls`) and `bot.textlen`
(the parser's URL extraction + the `emoji` package's current data). Also counts how many
emoji sequences newer than twitter-text's 2019 table each one weighs 2, and how fast each
counts a mix of plain, CJK, emoji and link texts.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import emoji
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import textlen  # noqa: E402
from bot.filters import BlockedWordsRule, CheckContext  # noqa: E402

SUITE = ROOT.parent / "shared" / "conformance" / "twitter-text"
SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def _parser() -> tuple[object, object]:
    textlen._extractor()  # imports twitter_text (with the pkg_resources stand-in if needed)
    from twitter_text import extract_urls, parse_tweet

    return parse_tweet, extract_urls


def _texts(count: int) -> list[str]:
    rng = random.Random(7)
    words = ["the", "gulls", "are", "loud", "today", "harbour", "fog", "again", "ok", "tea"]
    extras = ["😀", "👨‍👩‍👧‍👦", "❤️‍🔥", "🇫🇷", "故人西辞", "https://example.com/a?b=1", "site.ninja"]
    out = []
    for _ in range(count):
        parts = [rng.choice(words) for _ in range(rng.randint(5, 40))]
        for _ in range(rng.randint(0, 4)):
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(extras))
        out.append(" ".join(parts))
    return out


def main() -> None:
    """Print pass counts per section and approach, new-emoji coverage and throughput."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=5000)
    args = parser.parse_args()
    parse_tweet, extract_urls = _parser()
    validate = yaml.safe_load((SUITE / "validate.yml").read_text())["tests"]
    urls = yaml.safe_load((SUITE / "extract.yml").read_text())["tests"]["urls"]

    def lib_ok(case: dict) -> bool:
        result = parse_tweet(case["text"])  # type: ignore[operator]
        expected = case["expected"]
        return bool(
            result.weightedLength == expected["weightedLength"]
            and result.valid == expected["valid"]
        )

    def own_ok(case: dict) -> bool:
        expected = case["expected"]
        return (
            textlen.weighted_length(case["text"]) == expected["weightedLength"]
            and textlen.is_valid_tweet(case["text"]) == expected["valid"]
        )

    for section in SECTIONS:
        cases = validate[section]
        print(
            f"{section}: twitter-text-parser {sum(map(lib_ok, cases))}/{len(cases)}, "
            f"bot.textlen {sum(map(own_ok, cases))}/{len(cases)}"
        )
    lib_urls = sum(extract_urls(c["text"]) == c["expected"] for c in urls)  # type: ignore[operator]
    own_urls = sum(textlen.find_urls(c["text"]) == c["expected"] for c in urls)
    print(f"extract urls: twitter-text-parser {lib_urls}/{len(urls)}, bot.textlen {own_urls}/91")

    # Every multi-code-point emoji in the emoji package's data (fully qualified), one at a time.
    sequences = [
        e
        for e, data in emoji.EMOJI_DATA.items()
        if len(e) > 1 and data.get("status") == emoji.STATUS["fully_qualified"]
    ]
    lib_two = sum(parse_tweet(e).weightedLength == 2 for e in sequences)  # type: ignore[operator]
    own_two = sum(textlen.weighted_length(e) == 2 for e in sequences)
    print(
        f"multi-code-point emoji weighing 2 (of {len(sequences)}): "
        f"twitter-text-parser {lib_two}, bot.textlen {own_two}"
    )

    texts = _texts(args.texts)
    for name, count in (
        ("twitter-text-parser", lambda t: parse_tweet(t).weightedLength),  # type: ignore[operator]
        ("bot.textlen", textlen.weighted_length),
    ):
        started = time.perf_counter()
        for text in texts:
            count(text)
        elapsed = time.perf_counter() - started
        print(f"{name}: {len(texts) / elapsed:,.0f} texts/s ({len(texts)} texts, {elapsed:.2f}s)")

    # The blocklist on the same texts and on runs that would make a backtracking regex explode.
    rule = BlockedWordsRule(["gertrude", "little", "ass", "bad word", "darn"])
    started = time.perf_counter()
    for text in texts:
        rule.check(text, CheckContext())
    elapsed = time.perf_counter() - started
    print(f"blocked_words (5 phrases): {len(texts) / elapsed:,.0f} texts/s")
    for hostile in ("d" + "@" * 5000 + "x", "a@" * 3000, "l" + "|" * 3000 + "t" + "+" * 3000):
        started = time.perf_counter()
        rule.check(hostile, CheckContext())
        print(f"blocked_words on a {len(hostile)}-char run: {time.perf_counter() - started:.4f}s")


if __name__ == "__main__":
    main()
