"""Length rules per network and Mastodon's HTML turned into text."""

from __future__ import annotations

from bot.platform.base import PostLimits
from bot.platform.htmltext import html_to_text
from bot.platform.textrules import graphemes, mastodon_length


def test_graphemes_count_what_a_reader_sees() -> None:
    assert graphemes("abc") == 3
    assert graphemes("e\u0301") == 1  # e + combining acute
    assert graphemes("👩‍👩‍👧‍👦") == 1  # a ZWJ family
    assert graphemes("🇫🇷🇩🇪") == 2


def test_bluesky_allows_300_graphemes_whatever_their_bytes() -> None:
    limits = PostLimits("bluesky", 300, "graphemes", None)
    assert limits.fits("👩‍👩‍👧‍👦" * 300)
    assert not limits.fits("a" * 301)
    assert not limits.fits("   ")
    # A link is a facet over its own text: it counts in full.
    assert limits.length("see https://example.com/" + "a" * 100) == 4 + 20 + 100


def test_mastodon_counts_a_url_as_23_and_a_remote_mention_without_its_domain() -> None:
    url = "https://example.com/" + "a" * 200
    assert mastodon_length(f"look {url}") == 5 + 23
    assert mastodon_length("@alice@mastodon.social hi") == len("@alice hi")
    # Without a scheme Mastodon does not shorten a link.
    assert mastodon_length("example.com/" + "a" * 50) == 62
    limits = PostLimits("mastodon", 30, "mastodon", 23)
    assert limits.fits(f"ok {url}")
    assert not limits.fits("a" * 31)


def test_html_content_becomes_plain_text_with_its_line_breaks() -> None:
    content = (
        '<p>Hello <span class="h-card"><a href="https://m.example/@bob" class="u-url mention">'
        "@<span>bob</span></a></span> &amp; all<br>second line</p><p>new paragraph "
        '<a href="https://example.com/long/path"><span class="invisible">https://</span>'
        '<span class="ellipsis">example.com/lo</span><span class="invisible">ng/path</span></a>'
        "</p>"
    )
    assert html_to_text(content) == (
        "Hello @bob & all\nsecond line\n\nnew paragraph https://example.com/long/path"
    )
    assert html_to_text("plain &lt;text&gt;") == "plain <text>"
    assert html_to_text("") == ""
