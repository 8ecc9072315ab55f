#!/usr/bin/env bash
# Regenerates demo/kjv-gospels.txt: the four Gospels of the King James Version (1611, public domain),
# cleaned the text8 way. Needs Debian's bible-kjv (the `bible` program and its text); the project
# itself never needs it: the cleaned file is committed.
#
#   bible mat1:1-joh21:25     Matthew 1:1 .. John 21:25, as "Book N" headings and "  V text" verses
#   drop the headings and the verse numbers, then as text8: lower-case, every other character a space,
#   runs of spaces one space, one line beginning with a space, no newline.
set -euo pipefail
out=${1:-demo/kjv-gospels.txt}
command -v bible >/dev/null || { echo "make_demo_text: needs the bible program (apt-get install bible-kjv)" >&2; exit 1; }
bible "mat1:1-joh21:25" |
  grep -v '^[A-Z1-3][a-zA-Z ]* [0-9]*$' |   # "Matthew 1" headings
  sed -E 's/^ *[0-9]+ //' |                 # verse numbers
  tr 'A-Z' 'a-z' | tr -c 'a-z' ' ' | tr -s ' ' | sed 's/^ //' |
  { printf ' '; cat; } | tr -d '\n' > "$out.tmp"
mv "$out.tmp" "$out"
echo "make_demo_text: wrote $out ($(wc -c < "$out") characters)"
