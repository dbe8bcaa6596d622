"""Mastodon's HTML status content as plain text (stdlib `html.parser`).

Line breaks survive (`<br>` is one, a new `<p>` a blank line), every tag is dropped but its
text kept (Mastodon hides a link's scheme in `<span class="invisible">`: keeping that text
gives the full URL back), and character references are unescaped.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({"p", "div", "blockquote", "li", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._blocks_seen = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            if self._blocks_seen:
                self.parts.append("\n\n")
            self._blocks_seen += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Plain text of a status's HTML `content` (a plain string passes through unescaped)."""
    collector = _TextCollector()
    collector.feed(content)
    collector.close()
    text = "".join(collector.parts)
    # Paragraph breaks never stack beyond one blank line; trailing spaces on a line go.
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
