#!/usr/bin/env bash
# The man pages document every option of the daemons, and nothing that is
# not one: the options --help lists (printed from each daemon's option
# table, the same table getopt and the config file use) against the .TP
# entries of the man page's OPTIONS section.  An option is compared as it
# is written, with its short form: "-l, --listen", "--lease", "-o".
# TIMEOUT: 30
. "$(dirname "$0")/../../lib/common.sh"

# help_options PROGRAM: one option a line, from --help.  Option lines
# start with "  -x, --name", "      --name" or "  -x"; the lines of text
# that continue an option's meaning start with more spaces.
help_options() {
	"$1" --help | sed -nE \
		-e 's/^  (-[A-Za-z]), (--[a-z0-9-]+).*/\1, \2/p' \
		-e 's/^      (--[a-z0-9-]+).*/\1/p' \
		-e 's/^  (-[A-Za-z])( .*)?$/\1/p' | sort -u
}

# man_options PAGE: one option a line, from the tag line after each .TP of
# the OPTIONS section, its font escapes and quotes dropped.  A short option
# followed by a long one is one option ("-l, --listen"); the tag may hold
# several ("-h, --help; -V, --version").
man_options() {
	awk '/^\.SH/ { opts = ($2 == "OPTIONS") } opts && tag { print; tag = 0 }
	     opts && /^\.TP/ { tag = 1 }' "$1" |
	sed -E 's/\\-/-/g; s/\\f[BIRP]//g; s/"//g; s/[,;]/ /g' |
	awk '{
		prev = ""
		for (i = 2; i <= NF; i++) {
			if ($i !~ /^-/)
				continue
			if ($i ~ /^--/ && prev ~ /^-[^-]$/) {
				print prev ", " $i
				prev = ""
				continue
			}
			if (prev != "")
				print prev
			prev = $i
		}
		if (prev != "")
			print prev
	}' | sort -u
}

bad=0
for prog in vofirm-memd vofirm-fs; do
	page=$TOP/docs/man/$prog.8
	step "$prog: --help against ${page#$TOP/}"
	help_options "$BIN/$prog" >"$prog.help"
	man_options "$page" >"$prog.man"
	[ -s "$prog.help" ] || fail "no option found in $prog --help"
	[ -s "$prog.man" ] || fail "no option found in the OPTIONS of ${page#$TOP/}"
	while read -r o; do
		echo "$prog: '$o' is an option (--help) that ${page#$TOP/} does not document" >&2
		bad=1
	done < <(comm -23 "$prog.help" "$prog.man")
	while read -r o; do
		echo "$prog: ${page#$TOP/} documents '$o', which is not an option (--help)" >&2
		bad=1
	done < <(comm -13 "$prog.help" "$prog.man")
	echo "$(wc -l <"$prog.help") options checked"
done
[ "$bad" = 0 ] || fail "the man pages and the options differ (above)"
