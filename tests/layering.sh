#!/bin/sh
# The layering test (STYLE.md): data flows server/ -> handlers/ -> repo/ -> db/.
# Fails when a file includes a header its layer must not see.
set -u
top=${1:-.}
cd "$top" || exit 2
fail=0
check() { # $1 = dirs, $2 = forbidden include regex, $3 = why
        hits=$(grep -nE "#include *[<\"]($2)" $1 2>/dev/null)
        if [ -n "$hits" ]; then
                printf 'layering violation (%s):\n%s\n' "$3" "$hits"
                fail=1
        fi
}
check "handlers/*.[ch] server/http*.[ch] server/reply.c server/router.c server/body.c server/routes.[ch]" 'sqlite3\.h' 'only repo/ and db/ speak SQL'
check "repo/*.[ch] db/*.[ch] common/*.[ch]" 'jansson\.h|microhttpd\.h' 'repo/, db/ and common/ never see JSON or HTTP'
check "db/*.[ch] common/*.[ch]" 'repo/|handlers/|server/' 'db/ and common/ know nothing above them'
check "repo/*.[ch]" 'handlers/|server/' 'repo/ knows nothing above it'
check "handlers/*.[ch]" 'db/|server/service\.h' 'handlers see the database only through repo/'
# Nor do they call its connection-level functions (through headers that
# bring db.h along): reads go through repo/, writes through req_write.
hits=$(grep -nE '\<(db_reader_acquire|db_reader_release|db_conn_open|db_write|db_read|db_stats)\(' handlers/*.c 2>/dev/null)
if [ -n "$hits" ]; then
        printf 'layering violation (handlers hold no connection and run no job themselves):\n%s\n' "$hits"
        fail=1
fi
[ $fail -eq 0 ] && echo "layering ok"
exit $fail
