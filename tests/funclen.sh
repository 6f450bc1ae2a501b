#!/bin/sh
# The function length check (STYLE.md, Comments and size): fails when a
# function of server/, handlers/, repo/, db/ or common/ is over 60 lines,
# counted from the line that names it to its closing brace. Functions are
# found by the house layout: the name at column 0, '{' and '}' alone at
# column 0.
set -u
top=${1:-.}
max=${FUNCLEN_MAX:-60}
cd "$top" || exit 2
over=$(awk -v max="$max" '
        FNR == 1 { name = ""; start = 0; infn = 0 }
        /^[A-Za-z_].*\(/ && !/;$/ && !infn {
                name = $0; sub(/\(.*/, "", name); sub(/.*[ *]/, "", name); start = FNR
        }
        /^\{$/ && name != "" { infn = 1 }
        /^\}/ && infn {
                if (FNR - start + 1 > max)
                        printf "%s:%d: %s is %d lines\n", FILENAME, start, name, FNR - start + 1
                infn = 0; name = ""
        }
' server/*.c handlers/*.c repo/*.c db/*.c common/*.c)
if [ -n "$over" ]; then
        printf 'functions over %d lines (split parse / validate / execute / respond):\n%s\n' \
                "$max" "$over"
        exit 1
fi
echo "funclen ok"
