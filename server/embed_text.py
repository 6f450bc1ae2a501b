#!/usr/bin/env python3
"""Embeds a text file into C: `embed_text.py OUT.c SYMBOL IN` writes
`const char SYMBOL[] = {...}; const unsigned long SYMBOL_len = N;`
(a char array, not a string literal: -Woverlength-strings)."""
import sys


def main() -> int:
    out, symbol, src = sys.argv[1:4]
    data = open(src, "rb").read()
    lines = [f"/* Generated from {src.split('/')[-1]} by embed_text.py: do not edit. */",
             f"extern const char {symbol}[];",
             f"extern const unsigned long {symbol}_len;",
             f"const char {symbol}[] = {{"]
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join(str(b) for b in data[i:i + 16]) + ",")
    lines.append("    0};")
    lines.append(f"const unsigned long {symbol}_len = {len(data)};")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
