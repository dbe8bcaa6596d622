"""Write a deterministic sample X archive (.zip with data/tweets.js) of a fictional account.

The account is @skerryhorn, the keeper of a (made-up) lighthouse on a rock in the North Sea who
bakes sourdough with a starter called Gertrude. The voice is narrow on purpose, with recurring
phrases ("Lamp lit at ...", "Fog horn count today", "Tide log:", "Gertrude ..."), so a tiny model
trained on it for a minute already sounds like the keeper.

The mix follows a real timeline: about a quarter retweets, a sixth replies, short tweets, links
(t.co with entities), mentions, hashtags, emoji, a few tweets in other scripts, HTML entities
as X stores them (`&amp;`), and some exact repeats. Same seed, same bytes.

    python scripts/make_sample_archive.py sample.zip [--count 2400] [--seed 7] [--parts 1]

Tests import this file for `sample_tweets` and `to_api_v2` (the same tweets as API v2 objects,
for the fake X server).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

USERNAME = "skerryhorn"
ACCOUNT_ID = "1184467390912000001"
DISPLAY_NAME = "Keeper of Skerryhorn Light"
DEFAULT_COUNT = 2400
DEFAULT_SEED = 7
# X's snowflake ids count milliseconds from this moment (2010-11-04).
_TWITTER_EPOCH_MS = 1288834974657
_START = datetime(2019, 3, 1, 6, 0, tzinfo=UTC)
# A fixed timestamp for every zip entry, so the bytes do not depend on when the script ran.
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)

FRIENDS = {
    "tidewatch_ni": "1099000000000000011",
    "breadnerd": "1099000000000000012",
    "harbourmaster_b": "1099000000000000013",
    "coastguard_north": "1099000000000000014",
    "kelp_forest": "1099000000000000015",
    "toudai_fan": "1099000000000000016",
    "fyrvokter_ola": "1099000000000000017",
}

TIMES = ["dusk", "4:12", "5:40", "6:05", "7:30", "8:15", "9:02", "half past six", "sundown"]
WEATHER = [
    "Sea like pewter, sky like wet wool.",
    "Gale from the west, the windows sing.",
    "Flat calm. Suspicious.",
    "Rain sideways again, as the rock prefers.",
    "Stars out over the Skerry, all of them.",
    "Mist rolling in from the banks, slow as dough.",
    "Swell from the north, spray up to the gallery.",
]
FOG_COMMENTS = [
    "The gulls have opinions about it.",
    "Ears ringing, heart full.",
    "The fog does not care how I feel.",
    "A personal record, not a proud one.",
    "Every blast a small goodbye to the mainland.",
]
TIDE_COMMENTS = [
    "the weed on the steps says spring tides",
    "lower than the almanac promised",
    "the seals took the landing again",
    "right on time, unlike the supply boat",
    "the whole reef showed its teeth",
]
STARTER_VERBS = ["doubled", "tripled", "sulked", "rose like the tide", "smelled of apples"]
BREAD = [
    "Crumb open, crust loud.",
    "Flat loaf, good toast.",
    "The oven ran hot, the loaf forgave me.",
    "Rye today, for the weather.",
    "Ear on the loaf sharp enough to cut rope.",
    "Too much water, like everything out here.",
]
NOTES = [
    "wind the clockwork before the coffee",
    "never argue with a gull about bread",
    "the third step from the top is loose",
    "feed Gertrude before feeding myself",
    "check the brass before it checks you",
    "write the tide down, memory lies",
]
SEA_STATES = ["sea slight", "sea moderate", "sea rough", "sea glassy", "sea confused"]
SKIES = ["sky clear", "sky bruised", "low cloud", "stars behind haze", "a thin moon"]
BIRDS = ["puffins", "gannets", "eiders", "kittiwakes", "herring gulls", "shags"]
BIRD_COMMENTS = [
    "They stare at the bread bag like customs officers.",
    "Loud neighbours, good neighbours.",
    "Counted them twice, lost count twice.",
    "They bring the spring with them.",
]
LENS = [
    "The prisms throw rainbows on the stairs.",
    "Brass polish on my sleeves until June.",
    "Clean glass, clear conscience.",
    "The light deserves it.",
]
BOAT = [
    ("came at last", "Flour, coffee, letters. In that order of importance."),
    ("turned back", "Rationing the rye. Gertrude understands."),
    ("is late again", "Baking with the last of the flour."),
    ("brought a new thermometer", "Gertrude is being watched now."),
]
RULES = [
    "the lamp first, then the loaf, then the rest",
    "if the glass falls, bake early",
    "nobody is alone on a rock with a starter",
    "log everything, trust the log",
]
DIRECTIONS = ["north", "north-east", "east", "south-east", "south", "south-west", "west"]
WIND = [
    "Door stays shut.",
    "Good drying weather for tea towels.",
    "The tower hums a low note.",
    "Even the gulls are walking.",
]
# A second thought the keeper often adds; it multiplies the variety of the originals.
AFTERTHOUGHTS = [
    "Coffee is on.",
    "Gertrude is watching.",
    "The log is written.",
    "Kettle singing along.",
    "The gulls agree, for once.",
    "Toast for supper.",
    "Writing this with floury hands.",
    "The mainland looks very far tonight.",
    "Radio check with the harbour at nine.",
    "Rye in the oven as I type.",
    "The barometer is sulking.",
    "Socks drying on the lamp rail, do not tell anyone.",
    "One more loaf before bed.",
    "The seals are unimpressed.",
    "Still no letters.",
    "Good night from the rock.",
    "Tower creaking like an old boat.",
    "Flour on the logbook again.",
    "The stove is winning.",
    "Tomorrow: more of the same, gladly.",
    "Sea shanty stuck in my head since noon.",
    "Tea, then the lamp.",
    "The crust crackled for ten minutes.",
    "Day {n} of this posting.",
]
HASHTAGS = ["lighthouselife", "sourdough", "tidelog", "fogwatch", "keepersnotes"]
EMOJI = ["🌊", "🍞", "💡", "🌫️", "🐦", "⚓", "🌙", "🥖"]
SHORT = [
    "Lamp lit.",
    "Fog again.",
    "Bread.",
    "Storm.",
    "Good morning.",
    "Gertrude bubbling.",
    "ha",
    "Quiet night.",
    "Gulls.",
    "Yes.",
]
# Exact repeats: the keeper says this one a lot.
CATCHPHRASE = "Another night, another lamp, another loaf."
# X stores &, < and > escaped; {n} keeps the lines from being exact repeats.
ENTITY_LINES = [
    "Bread &amp; butter &amp; a storm warning, day {n}. The holy trinity.",
    "Tide tables &gt; horoscopes. Fight me, gently. ({n} years of logs)",
    "Gertrude &lt;3 (feeding number {n})",
    "Lamp -&gt; loaf -&gt; log -&gt; sleep. Repeat {n} times.",
    "Salt &amp; flour &amp; water &amp; time. That is the whole secret, {n} loaves in.",
]
FOREIGN = [
    "灯台は今夜も元気です。パンも焼けました 💡🍞",
    "God natt fra fyret. Havet er stille i kveld.",
    "Καλησπέρα από τον φάρο. Το ψωμί φουσκώνει.",
    "Маяк горит, хлеб в печи, всё хорошо.",
    "今日の潮はとても低かった。アザラシが見ていた。",
    "霧笛を{n}回鳴らしました。",
    "Tåke i dag, {n} støt med tåkelura.",
    "Шторм, {n} узлов. Ветер поёт в башне.",
]
LINK_LINES = [
    "New page in the keeper's log ({month}):",
    "How Gertrude was born, with photos, {month} edition:",
    "The rye recipe people keep asking for, updated {month}:",
    "Sunset from the gallery, {month}",
    "Tide tables for {month} are up",
]
REPLIES = [
    "Gertrude says thank you. She is {n} years old this spring.",
    "high water here was at {time}, {tide}.",
    "the lamp was lit at {time}, same as every night.",
    "{bread} Try a longer proof if your kitchen is cold.",
    "no boat this week, so no letters. Still baking.",
    "the {bird} say hello back.",
    "that is exactly how the fog sounds from up here.",
    "ha, the rock would disagree.",
]
RETWEETED = [
    "Small craft warning for the northern banks tonight. Stay safe out there.",
    "Spring tides this weekend, watch the causeways.",
    "Hydration is a state of mind. 75% is a lifestyle.",
    "Puffin season is officially open on the outer isles.",
    "Harbour closed until the swell drops. Updates at noon.",
    "A good loaf takes two days and no shortcuts.",
    "Kelp forests store more carbon than you would think.",
    "Lighthouses of the north, part {n}: the keepers who stayed.",
]


def _snowflake(moment: datetime, sequence: int) -> str:
    millis = int(moment.timestamp() * 1000) - _TWITTER_EPOCH_MS
    return str((millis << 22) | (sequence & 0x3FFFFF))


def _created_at(moment: datetime) -> str:
    # The archive's format: "Wed Oct 10 20:19:24 +0000 2018" (English names, never locale).
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return (
        f"{days[moment.weekday()]} {months[moment.month - 1]} {moment.day:02d} "
        f"{moment:%H:%M:%S} +0000 {moment.year}"
    )


def _original(rng: random.Random) -> str:
    n = rng.randint(2, 40)
    pick = rng.choice
    options = [
        lambda: f"Lamp lit at {pick(TIMES)}. {pick(WEATHER)}",
        lambda: f"Fog horn count today: {n}. {pick(FOG_COMMENTS)}",
        lambda: f"Tide log: high water at {pick(TIMES)}, {pick(TIDE_COMMENTS)}.",
        lambda: f"Gertrude (the starter) {pick(STARTER_VERBS)} overnight. {pick(BREAD)}",
        lambda: f"Baked {n % 6 + 1} loaves before the weather came in. {pick(BREAD)}",
        lambda: f"Note to self: {pick(NOTES)}.",
        lambda: (
            f"Evening report from the gallery: {pick(SEA_STATES)}, {pick(SKIES)}, "
            f"{pick(BIRDS)} on the rocks."
        ),
        lambda: f"The {pick(BIRDS)} are back on the north rocks. {pick(BIRD_COMMENTS)}",
        lambda: f"Polished the lens for {n % 5 + 2} hours. {pick(LENS)}",
        lambda: "Supply boat {} . {}".format(*pick(BOAT)).replace(" .", "."),
        lambda: f"A keeper's rule: {pick(RULES)}.",
        lambda: (
            f"{n * 4} steps up, {n * 4} steps down, {n % 7 + 2} times today. "
            "The tower keeps me honest."
        ),
        lambda: (
            f"Hydration {65 + n % 20}%, crumb {pick(['open', 'tight', 'wild'])}. Gertrude approves."
        ),
        lambda: f"Wind from the {pick(DIRECTIONS)} at {n} knots. {pick(WIND)}",
    ]
    text: str = pick(options)()
    if rng.random() < 0.7:
        text += " " + pick(AFTERTHOUGHTS).format(n=rng.randint(100, 2000))
    return text


def _decorate(text: str, rng: random.Random, entities: dict[str, Any]) -> str:
    """Add a hashtag or an emoji to some tweets, recording hashtag entities like X does."""
    roll = rng.random()
    if roll < 0.15:
        tag = rng.choice(HASHTAGS)
        start = len(text) + 1
        text = f"{text} #{tag}"
        entities["hashtags"].append({"text": tag, "indices": [str(start), str(len(text))]})
    elif roll < 0.30:
        text = f"{text} {rng.choice(EMOJI)}"
    return text


def _tco(rng: random.Random) -> str:
    return "https://t.co/" + "".join(rng.choices(string.ascii_letters + string.digits, k=10))


def _empty_entities() -> dict[str, Any]:
    return {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []}


def _mention(entities: dict[str, Any], name: str, start: int) -> None:
    entities["user_mentions"].append(
        {
            "name": name,
            "screen_name": name,
            "indices": [str(start), str(start + len(name) + 1)],
            "id_str": FRIENDS[name],
            "id": FRIENDS[name],
        }
    )


def sample_tweets(count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The archive's tweet objects (the inside of each `{"tweet": ...}`), oldest first."""
    rng = random.Random(seed)
    moment = _START
    tweets: list[dict[str, Any]] = []
    for sequence in range(count):
        moment += timedelta(minutes=rng.randint(20, 900))
        entities = _empty_entities()
        extra: dict[str, Any] = {}
        roll = rng.random()
        if roll < 0.25:  # retweet of a friend, "RT @name: ..." as X stores it
            friend = rng.choice(sorted(FRIENDS))
            text = f"RT @{friend}: " + rng.choice(RETWEETED).format(n=rng.randint(1, 12))
            _mention(entities, friend, 3)
        elif roll < 0.40:  # reply to a friend
            friend = rng.choice(sorted(FRIENDS))
            body = rng.choice(REPLIES).format(
                n=rng.randint(2, 9),
                time=rng.choice(TIMES),
                tide=rng.choice(TIDE_COMMENTS),
                bread=rng.choice(BREAD),
                bird=rng.choice(BIRDS),
            )
            if friend in ("toudai_fan", "fyrvokter_ola") and rng.random() < 0.5:
                body = rng.choice(FOREIGN).format(n=rng.randint(5, 60))
            elif rng.random() < 0.7:
                body += " " + rng.choice(AFTERTHOUGHTS).format(n=rng.randint(100, 2000))
            text = f"@{friend} {body}"
            _mention(entities, friend, 0)
            extra = {
                "in_reply_to_status_id_str": _snowflake(moment - timedelta(minutes=30), 9),
                "in_reply_to_user_id_str": FRIENDS[friend],
                "in_reply_to_screen_name": friend,
            }
        elif roll < 0.47:
            text = rng.choice(SHORT)
        elif roll < 0.54:  # a link, or (rarely) nothing but a link, like a photo
            short = _tco(rng)
            slug = "".join(rng.choices(string.ascii_lowercase, k=6))
            month = f"{moment:%B %Y}"
            lead = "" if rng.random() < 0.15 else rng.choice(LINK_LINES).format(month=month) + " "
            text = f"{lead}{short}"
            entities["urls"].append(
                {
                    "url": short,
                    "expanded_url": f"https://skerryhorn.example/log/{moment:%Y}/{slug}",
                    "display_url": f"skerryhorn.example/log/{moment:%Y}/{slug}",
                    "indices": [str(len(lead)), str(len(text))],
                }
            )
        elif roll < 0.57:
            text = rng.choice(ENTITY_LINES).format(n=rng.randint(2, 400))
        elif roll < 0.59:
            text = rng.choice(FOREIGN).format(n=rng.randint(5, 60))
        elif roll < 0.605:
            text = CATCHPHRASE
        else:
            text = _decorate(_original(rng), rng, entities)
        tweet_id = _snowflake(moment, sequence)
        tweets.append(
            {
                "edit_info": {"initial": {"editTweetIds": [tweet_id], "editableUntil": ""}},
                "retweeted": False,
                "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
                "entities": entities,
                "display_text_range": ["0", str(len(text))],
                "favorite_count": str(rng.randint(0, 40)),
                "id_str": tweet_id,
                "truncated": False,
                "retweet_count": str(rng.randint(0, 8)),
                "id": tweet_id,
                "created_at": _created_at(moment),
                "favorited": False,
                "full_text": text,
                "lang": "en",
                **extra,
            }
        )
    return tweets


def to_api_v2(tweet: dict[str, Any], author_id: str = ACCOUNT_ID) -> dict[str, Any]:
    """The same tweet as X API v2 returns it (`tweet.fields` incl. entities, referenced_tweets)."""
    created = _parse_created(tweet["created_at"])
    text = tweet["full_text"]
    v2: dict[str, Any] = {
        "id": tweet["id_str"],
        "text": text,
        "author_id": author_id,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conversation_id": tweet["id_str"],
        "edit_history_tweet_ids": [tweet["id_str"]],
    }
    if text.startswith("RT @"):
        # The retweeted original's id; any stable id will do for a fictional friend.
        v2["referenced_tweets"] = [{"type": "retweeted", "id": str(int(tweet["id_str"]) - 1)}]
    elif tweet.get("in_reply_to_status_id_str"):
        v2["referenced_tweets"] = [{"type": "replied_to", "id": tweet["in_reply_to_status_id_str"]}]
        v2["in_reply_to_user_id"] = tweet["in_reply_to_user_id_str"]
        v2["conversation_id"] = tweet["in_reply_to_status_id_str"]
    entities = tweet["entities"]
    v2_entities: dict[str, Any] = {}
    if entities["urls"]:
        v2_entities["urls"] = [
            {
                "start": int(u["indices"][0]),
                "end": int(u["indices"][1]),
                "url": u["url"],
                "expanded_url": u["expanded_url"],
                "display_url": u["display_url"],
            }
            for u in entities["urls"]
        ]
    if entities["user_mentions"]:
        v2_entities["mentions"] = [
            {
                "start": int(m["indices"][0]),
                "end": int(m["indices"][1]),
                "username": m["screen_name"],
                "id": m["id_str"],
            }
            for m in entities["user_mentions"]
        ]
    if entities["hashtags"]:
        v2_entities["hashtags"] = [
            {"start": int(h["indices"][0]), "end": int(h["indices"][1]), "tag": h["text"]}
            for h in entities["hashtags"]
        ]
    if v2_entities:
        v2["entities"] = v2_entities
    return v2


def _parse_created(value: str) -> datetime:
    return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)


def ytd_js(name: str, part: int, items: list[Any]) -> str:
    """A data file as the archive writes it: `window.YTD.<name>.part<N> = [...]`."""
    body = json.dumps(items, indent=2, ensure_ascii=False, separators=(",", " : "))
    return f"window.YTD.{name}.part{part} = {body}"


def account_js(username: str = USERNAME, account_id: str = ACCOUNT_ID) -> str:
    """data/account.js naming the account."""
    account = {
        "email": f"{username}@example.invalid",
        "createdVia": "web",
        "username": username,
        "accountId": account_id,
        "createdAt": "2019-02-27T09:00:00.000Z",
        "accountDisplayName": DISPLAY_NAME,
    }
    return ytd_js("account", 0, [{"account": account}])


def archive_members(
    tweets: list[dict[str, Any]],
    *,
    parts: int = 1,
    legacy: bool = False,
    with_account: bool = True,
) -> dict[str, str]:
    """Member path -> text of an archive; `parts` > 1 splits tweets like big exports do.

    The archive lists tweets newest first; `legacy` writes the older `tweet.js` naming.
    """
    name = "tweet" if legacy else "tweets"
    newest_first = list(reversed(tweets))
    size = -(-len(newest_first) // parts) if newest_first else 0
    members: dict[str, str] = {
        "Your archive.html": "<!doctype html><title>Your archive</title>\n",
        "data/manifest.js": 'window.__THAR_CONFIG = {"userInfo": {}}\n',
    }
    if with_account:
        members["data/account.js"] = account_js()
    for part in range(parts):
        chunk = newest_first[part * size : (part + 1) * size]
        file_name = f"data/{name}.js" if part == 0 else f"data/{name}-part{part}.js"
        members[file_name] = ytd_js(name, part, [{"tweet": t} for t in chunk])
    return members


def write_zip(out: Path, members: dict[str, str]) -> Path:
    """Write members into a zip with fixed timestamps (same input, same bytes)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, text in members.items():
            info = zipfile.ZipInfo(member, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return out


def build_archive(
    out: Path, *, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, parts: int = 1
) -> Path:
    """Write the sample archive zip to `out` and return the path."""
    return write_zip(out, archive_members(sample_tweets(count, seed), parts=parts))


def main(argv: list[str] | None = None) -> int:
    """Command line: write OUT.zip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the .zip to write")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="tweets (default 2400)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 7)")
    parser.add_argument("--parts", type=int, default=1, help="split tweets.js into N parts")
    args = parser.parse_args(argv)
    if args.count < 1 or args.parts < 1:
        parser.error("--count and --parts must be at least 1")
    path = build_archive(args.out, count=args.count, seed=args.seed, parts=args.parts)
    print(f"wrote {path}: {args.count} tweets of @{USERNAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
