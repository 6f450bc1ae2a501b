#!/usr/bin/env python3
"""Turns `perf script` output into collapsed stacks and a flame graph SVG.

Debian 12 packages no flame graph tool, so bench/run --profile uses this
small one: Brendan Gregg's format (one "root;...;leaf count" line per stack)
and an SVG of the same shape (root at the bottom, width = share of samples,
hover for the name and count).

Usage: perf script | bench/flamegraph.py OUT.folded OUT.svg [TITLE]
"""
import html
import re
import sys
from collections import Counter

OFFSET = re.compile(r"\+0x[0-9a-f]+$")


def collapse(lines):
    """Counts each stack (root first) of perf script's text."""
    stacks = Counter()
    comm, frames = None, []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None and frames:
                stacks[";".join([comm] + frames[::-1])] += 1
            comm, frames = None, []
        elif not line[0].isspace():
            comm = line.split()[0]
        else:
            parts = line.split(None, 1)
            sym = parts[1] if len(parts) > 1 else "[unknown]"
            sym = re.sub(r"\s+\([^)]*\)$", "", sym)  # the (dso)
            sym = OFFSET.sub("", sym)
            frames.append(sym.replace(";", ":") or "[unknown]")
    if comm is not None and frames:
        stacks[";".join([comm] + frames[::-1])] += 1
    return stacks


def tree(stacks):
    root = {"n": 0, "kids": {}}
    for stack, count in stacks.items():
        node = root
        node["n"] += count
        for name in stack.split(";"):
            node = node["kids"].setdefault(name, {"n": 0, "kids": {}})
            node["n"] += count
    return root


def color(name):
    h = sum(ord(c) for c in name)
    return "rgb(%d,%d,%d)" % (205 + h % 50, 80 + h * 7 % 130, 40 + h * 13 % 40)


def svg(root, title, width=1200, row=16):
    rects, depth_max = [], [0]
    total = max(root["n"], 1)

    def walk(node, name, x, depth):
        w = node["n"] / total * (width - 20)
        if w < 0.1:
            return
        depth_max[0] = max(depth_max[0], depth)
        rects.append((name, node["n"], x, depth, w))
        cx = x
        for kid_name, kid in sorted(node["kids"].items()):
            walk(kid, kid_name, cx, depth + 1)
            cx += kid["n"] / total * (width - 20)

    walk(root, "all", 10.0, 0)
    height = (depth_max[0] + 1) * row + 50
    out = ['<?xml version="1.0" standalone="no"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="Verdana" font-size="11">' % (width, height),
           '<rect width="100%%" height="100%%" fill="#f8f8f8"/>',
           '<text x="%d" y="20" text-anchor="middle" font-size="15">%s</text>'
           % (width // 2, html.escape(title))]
    for name, n, x, depth, w in rects:
        y = height - 10 - (depth + 1) * row
        label = "%s (%d samples, %.2f%%)" % (name, n, 100.0 * n / total)
        out.append('<g><title>%s</title><rect x="%.1f" y="%d" width="%.1f" height="%d" '
                   'fill="%s" rx="2"/>' % (html.escape(label), x, y, w, row - 1, color(name)))
        chars = int(w / 7)
        if chars >= 3:
            text = name if len(name) <= chars else name[:chars - 2] + ".."
            out.append('<text x="%.1f" y="%d">%s</text>' % (x + 3, y + row - 4, html.escape(text)))
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    stacks = collapse(sys.stdin)
    with open(sys.argv[1], "w") as f:
        for stack, count in sorted(stacks.items()):
            f.write("%s %d\n" % (stack, count))
    with open(sys.argv[2], "w") as f:
        f.write(svg(tree(stacks), sys.argv[3] if len(sys.argv) > 3 else "flame graph"))
    print("%d samples, %d stacks" % (sum(stacks.values()), len(stacks)))


if __name__ == "__main__":
    main()
