#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from the contract recorder's
exchanges (every request the HTTP test suites make; tests/contract/README.md).

Usage: tests/fuzz/seeds.py EXCHANGES.jsonl [CORPUS_DIR]   (default tests/fuzz/corpus)

To record the exchanges:
    TRADESTORE_EXCHANGES=$PWD/build/exchanges.jsonl meson test -C build

Each target's folder is replaced by at most CAP files named by the SHA-1 of
their content (so duplicates collapse), chosen round-robin over groups
(endpoint and status) so that every kind of request keeps a seed. The input
formats are those the targets read (see each tests/fuzz/fuzz_*.c); the
endpoint tables of BODY and QUERY must stay in step with fuzz_body.c and
fuzz_query.c.
"""
import hashlib
import json
import os
import re
import shutil
import sys
import urllib.parse
from collections import defaultdict

CAP = 300
MAX_BYTES = 16384

# (method, path regex with one group for the parameter) in fuzz_body.c order.
BODY = [
    ("POST", r"/quotes"), ("POST", r"/quotes/batch"), ("POST", r"/quotes/expire"),
    ("PATCH", r"/quotes/(.+)"), ("POST", r"/orders"), ("PATCH", r"/orders/(.+)"),
    ("POST", r"/fills"), ("PUT", r"/positions/(.+)"), ("PATCH", r"/positions/(.+)"),
    ("PUT", r"/balances"), ("PUT", r"/balances/(.+)"), ("POST", r"/outbox"),
    ("POST", r"/outbox/claim"), ("POST", r"/outbox/(.+)/processed"),
    ("POST", r"/outbox/(.+)/failed"), ("POST", r"/outbox/(.+)/retry"),
    ("POST", r"/admin/maintenance"),
]
# GET paths in fuzz_query.c order.
QUERY = [r"/quotes", r"/quotes/(.+)", r"/orders", r"/orders/(.+)", r"/fills", r"/fills/(.+)",
         r"/positions", r"/positions/(.+)", r"/balances", r"/balances/(.+)", r"/outbox",
         r"/outbox/(.+)", r"/health", r"/admin/stats", r"/metrics"]

NUMBER = re.compile(r"^[-+0-9.eE]+$")
DATE = re.compile(r"^[0-9]{4}-")
ID_KEY = re.compile(r"(_id|^symbol|^asset|^id)$")


def match(table, method, path):
    """Index and parameter of the first entry that matches, or None."""
    for i, entry in enumerate(table):
        m, rx = entry if isinstance(entry, tuple) else ("GET", entry)
        hit = re.fullmatch(rx, path)
        if m == method and hit:
            return i, (hit.group(1) if hit.groups() else "")
    return None


def leaves(v, key=""):
    """(key, literal text) of every string and number of a JSON value; numbers
    keep the text they were sent as."""
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, k)
    elif isinstance(v, list):
        for x in v:
            yield from leaves(x, key)
    elif isinstance(v, str):
        yield key, v


def literal(text):
    try:
        return json.loads(text, parse_float=lambda s: "\0num" + s, parse_int=lambda s: "\0num" + s)
    except (ValueError, RecursionError):
        return None


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "corpus")
    seeds = defaultdict(lambda: defaultdict(set))  # target -> group -> {bytes}

    def add(target, group, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if 0 < len(data) <= MAX_BYTES:
            seeds[target][group].add(data)

    def scalar(key, text):
        text = text[4:] if text.startswith("\0num") else text
        if NUMBER.match(text):
            add("dec", key, text)
            add("ts", key, text)
        if DATE.match(text):
            add("ts", key, text)
        if ID_KEY.search(key):
            add("ids", key, text)
        if key in ("cursor", "next_cursor"):
            add("cursor", key, text)

    with open(src, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            e = json.loads(line)
            method, path, query = e["method"], e["path"], e["query"]
            body = e["request_body"] or ""
            group = (method, re.sub(r"/[^/]+$", "/*", path), e["status"])
            ctype = e["request_content_type"]
            head = f"{method} {path}" + (f"?{query}" if query is not None else "") + "\n"
            if ctype:
                head += f"Content-Type: {ctype}\n"
            add("request", group, head + "\n" + body)
            hit = match(BODY, method, path)
            if hit and e["request_body"] is not None:
                add("body", group, bytes([hit[0]]) + f"{hit[1]}\n".encode() + body.encode())
            hit = match(QUERY, method, path)
            if hit:
                add("query", group, bytes([hit[0]]) + f"{hit[1]}\n{query or ''}".encode())
            for part in filter(None, path.split("/")):
                add("ids", "path", urllib.parse.unquote(part))
            for k, v in urllib.parse.parse_qsl(query or "", keep_blank_values=True):
                scalar(k, v)
            for text in (e["request_body"], e["body"]):
                doc = literal(text) if text else None
                if doc is not None:
                    for k, v in leaves(doc):
                        scalar(k, v)

    for target, groups in sorted(seeds.items()):
        folder = os.path.join(out, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        pools = [sorted(g, key=lambda d: hashlib.sha1(d).hexdigest()) for _, g in sorted(
            groups.items(), key=lambda kv: str(kv[0]))]
        chosen = set()
        while len(chosen) < CAP and any(pools):
            for pool in pools:
                if pool and len(chosen) < CAP:
                    chosen.add(pool.pop(0))
        for data in chosen:
            with open(os.path.join(folder, hashlib.sha1(data).hexdigest()), "wb") as g:
                g.write(data)
        print(f"{target}: {len(chosen)} seeds")


if __name__ == "__main__":
    main()
