#!/bin/sh
# man.t: every page in man/ is clean under `mandoc -Tlint` (mdoc, all
# levels down to STYLE), and has the sections STYLE.md asks for.
# A cross-reference to one of our own pages is fine even though mandoc
# cannot find it (the pages are not installed); a reference to any other
# page that mandoc cannot find is reported like every other message.
. "$(dirname "$0")/lib.sh"
cd "$T_TOP"
for page in man/*.[1-9]; do
	msgs=$(mandoc -Tlint "$page" 2>&1 | while IFS= read -r line; do
		case $line in
		*"outdated mandoc.db"*) continue ;;
		*"referenced manual not found: Xr "*)
			ref=${line##*Xr }
			ref=${ref% (*}
			set -- $ref
			[ -f "man/$1.$2" ] && continue ;;
		esac
		printf '%s\n' "$line"
	done)
	is "$msgs" "" "$page: mandoc -Tlint is clean"
	head -20 "$page" | grep -q '^\.Dd ' ; ok $? "$page: is mdoc (.Dd)"
	case $page in
	*.[18])
		for s in SYNOPSIS DESCRIPTION ENVIRONMENT "EXIT STATUS" EXAMPLES; do
			grep -q "^\.Sh $s\$" "$page"; ok $? "$page: has $s"
		done ;;
	*.7)
		for s in DESCRIPTION ENVIRONMENT FILES "EXIT STATUS" EXAMPLES; do
			grep -q "^\.Sh $s\$" "$page"; ok $? "$page: has $s"
		done ;;
	*)
		for s in DESCRIPTION EXAMPLES; do
			grep -q "^\.Sh $s\$" "$page"; ok $? "$page: has $s"
		done ;;
	esac
done
done_testing
