# Sourced by the Redis benches: the hash each store layout keeps for the
# same returning visitor (a session with one value, `test_counter`), under
# the names ours, previous, before and tower, through the caller's `cli`.
NOW=1795884855000
END=$((NOW + 1209600000))
cli HSET ours "m:c" "$NOW,$END" "d:test_counter" 3 >/dev/null
cli HSET previous "m:c" "${NOW}ms" "m:e" "${END}ms" "d:test_counter" 3 >/dev/null
cli HSET before "m:c" "${NOW}ms" "m:e" "${END}ms" "m:s" "${NOW}ms" "d:test_counter" 3 >/dev/null
for key in ours previous before; do cli PEXPIRE "$key" 100000000 >/dev/null; done
# tower-sessions' record for the same session: 57 bytes of MessagePack.
BLOB=$(printf 'x%.0s' {1..57})
cli SET tower "$BLOB" EX 100000 >/dev/null
