"""Builders of synthetic Mastodon exports and Bluesky repo CARs for import tests.

No real export of either network is in ../shared/conformance, so these follow the formats:
Mastodon's `outbox.json` (ActivityStreams OrderedCollection) and `actor.json`; a CAR v1 file
(varint-framed dag-cbor header `{version: 1, roots: [commit]}`, then `varint(len) cid block`
frames) holding a commit, an MST node and the records.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import libipld

MASTO_HOST = "social.example"


def mastodon_export(path: Path, items: list[dict[str, Any]], *, actor: bool = True) -> Path:
    """A Mastodon export zip at `path` with `items` as outbox.json's orderedItems."""
    outbox = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("outbox.json", json.dumps(outbox))
        if actor:
            archive.writestr(
                "actor.json",
                json.dumps(
                    {
                        "id": f"https://{MASTO_HOST}/users/dana",
                        "type": "Person",
                        "preferredUsername": "dana",
                    }
                ),
            )
        archive.writestr("likes.json", json.dumps({"orderedItems": []}))
    return path


def note(number: int, content: str, *, reply_to: str | None = None) -> dict[str, Any]:
    """A Create activity of a Note."""
    note_id = f"https://{MASTO_HOST}/users/dana/statuses/{number}"
    return {
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": f"https://{MASTO_HOST}/users/dana",
        "published": f"2025-03-{number % 28 + 1:02d}T10:00:00Z",
        "object": {
            "id": note_id,
            "type": "Note",
            "content": content,
            "published": f"2025-03-{number % 28 + 1:02d}T10:00:00Z",
            "inReplyTo": reply_to,
        },
    }


def boost(number: int, target: str) -> dict[str, Any]:
    """An Announce activity (a boost)."""
    return {
        "id": f"https://{MASTO_HOST}/users/dana/statuses/{number}/activity",
        "type": "Announce",
        "published": "2025-03-05T10:00:00Z",
        "object": target,
    }


def _cid(data: bytes) -> bytes:
    # CIDv1, dag-cbor (0x71), sha2-256 (0x12, 32 bytes).
    return b"\x01\x71\x12\x20" + hashlib.sha256(data).digest()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def bluesky_repo(path: Path, did: str, records: dict[str, dict[str, Any]]) -> Path:
    """A repo export CAR at `path` holding `records` (key "collection/rkey" -> record)."""
    blocks: list[tuple[bytes, bytes]] = []
    entries = []
    previous = b""
    for key in sorted(records):
        data = libipld.encode_dag_cbor(records[key])
        cid = _cid(data)
        blocks.append((cid, data))
        raw = key.encode()
        shared = 0
        while shared < min(len(raw), len(previous)) and raw[shared] == previous[shared]:
            shared += 1
        entries.append({"p": shared, "k": raw[shared:], "v": cid, "t": None})
        previous = raw
    node = libipld.encode_dag_cbor({"l": None, "e": entries})
    node_cid = _cid(node)
    commit = libipld.encode_dag_cbor(
        {"did": did, "version": 3, "data": node_cid, "rev": "3kabc2222222a", "prev": None}
    )
    commit_cid = _cid(commit)
    header = libipld.encode_dag_cbor({"version": 1, "roots": [commit_cid]})
    out = bytearray(_varint(len(header)) + header)
    for cid, data in [(commit_cid, commit), (node_cid, node), *blocks]:
        out += _varint(len(cid) + len(data)) + cid + data
    path.write_bytes(bytes(out))
    return path


def post_record(text: str, *, reply_to: str | None = None) -> dict[str, Any]:
    """An app.bsky.feed.post record."""
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2025-04-01T12:00:00.000Z",
    }
    if reply_to:
        ref = {"uri": reply_to, "cid": "bafyreiparent"}
        record["reply"] = {"root": ref, "parent": ref}
    return record
