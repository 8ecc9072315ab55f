#!/usr/bin/env bash
# Exports a Bible from Debian's SWORD modules (sword-text-web, sword-text-kjv, sword-text-sparv; installed by
# scripts/setup.sh) into the plain files data/words.hpp reads, through `diatheke`, SWORD's command line.
#
#   export_bible.sh verses MODULE OUT           one verse a line:   "Book C:V<TAB>text"
#   export_bible.sh pairs SRC_MODULE TGT_MODULE OUT
#                                               aligned verses:     "Book C:V<TAB>source text<TAB>target text"
#   export_bible.sh clean < diatheke-output     the cleaning stage alone (stdin -> verse lines on stdout);
#                                               the tests feed it made-up diatheke output
#
# MODULE is a SWORD module name (engWEB2015eb, engKJV2006eb, spaRV1909eb; `diatheke -b system -k modulelist`
# lists them) or one of the short names WEB, KJV, SPARV. Counts go to stderr: verses read, written, empty
# ones dropped; for pairs, pairs written and the verses dropped because the other side lacks them.
# The reference is the one diatheke prints ("Genesis 1:1", "I Samuel 3:4", "Revelation of John 22:21"): the
# book is everything before the last space. Verses keep the module's order (its versification).
#
# Why not `diatheke -f plain`: the modules are OSIS, and a word is a <w> element; where the source puts two
# <w> elements side by side with no space between them, the plain renderer glues the words, e.g. WEB Genesis
# 1:1 "In the beginning, Godcreated the heavens" (107 such places in the WEB). So this script asks for the
# module's own markup (`-f internal`) and removes it itself, with these rules (measured on all three modules):
#   - an opening <w> or <transChange> directly after a closing </w> or </transChange> starts a new word
#     (WEB "<w>God</w><w>created</w>", RV1909 "<w>hay allí</w><transChange>también</transChange>");
#   - an opening <w> directly after a letter, digit or full stop starts a new word (WEB "Yahweh<w>will</w>");
#   - a comma, semicolon, colon, '!' or '?' directly before a letter gets a space after it (WEB Genesis 4:1
#     "conceived,<w>and</w>": 126 places in the WEB);
#   - any other inline tag (w, transChange, q, divineName, seg, name, hi, foreign, ...) is removed without a
#     space, because the KJV splits words across them ("<w>with tear</w>s", "<w>afrai</w>d") and the RV1909
#     attaches enclitics with them ("repartiéron<transChange>lo</transChange>");
#   - structural tags (l, lg, lb, div, p, milestone, chapter, list, item, ...) become a space;
#   - headings and labels are not verse text and are removed with their content: <title> (section headings
#     and the psalm superscriptions, which diatheke prints before the reference and repeats on later lines),
#     <note> (footnotes, if shown; removed without a space), <speaker> (Song of Solomon's "Beloved", "Friends");
#   - the WEB appends its glossary to Revelation 22:21 (<div type="glossary">): cut there;
#   - the five XML entities are decoded; tabs and runs of white space become one space.
# A verse whose text is empty after cleaning is dropped and counted (a versification slot the module lacks).
set -euo pipefail

usage() {
  sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

module_name() {
  case "$1" in
    WEB | web) echo engWEB2015eb ;;
    KJV | kjv) echo engKJV2006eb ;;
    SPARV | sparv | RV1909) echo spaRV1909eb ;;
    *) echo "$1" ;;
  esac
}

# stdin: diatheke -f internal output; stdout: "Book C:V<TAB>text" lines; stderr: one line of counts.
clean() {
  perl -CSD -e '
    use strict; use warnings;
    my ($ref, $text) = (undef, "");
    my ($read, $written, $empty, $orphan) = (0, 0, 0, 0);
    sub clean_text {
      my ($t) = @_;
      $t =~ s{<div\b[^>]*type="glossary".*}{}s;
      $t =~ s{<note\b[^>]*>.*?</note>}{}gs;  # a footnote mark sits against its word: no space
      $t =~ s{<(title|note|speaker)\b[^>]*/>}{ }g;
      $t =~ s{<(title|speaker)\b[^>]*>.*?</\1>}{ }gs;
      $t =~ s{(</(?:w|transChange)>)(?=<(?:w|transChange)[\s>])}{$1 }g;
      $t =~ s{([\p{L}\p{N}.])(?=<w[\s>])}{$1 }g;
      $t =~ s{</?(?:l|lg|lb|div|p|milestone|chapter|verse|list|item|table|row|cell|head)\b[^>]*>}{ }g;
      $t =~ s{<[^>]*>}{}g;
      $t =~ s{&lt;}{<}g; $t =~ s{&gt;}{>}g; $t =~ s{&quot;}{"}g; $t =~ s{&apos;}{\x27}g; $t =~ s{&amp;}{&}g;
      $t =~ s{([,;:!?])(?=\p{L})}{$1 }g;  # "conceived,and": a space the source left out
      $t =~ s{\s+}{ }g; $t =~ s{^ | $}{}g;
      return $t;
    }
    sub flush {
      return unless defined $ref;
      my $t = clean_text($text);
      if ($t eq "") { ++$empty } else { print "$ref\t$t\n"; ++$written }
    }
    while (my $line = <STDIN>) {
      $line =~ s/\r?\n\z//;
      next if $line =~ /^\([A-Za-z0-9_.-]+\)$/;  # the module name diatheke prints last
      # A verse starts with its reference, possibly after markup that diatheke prints before it (a psalm
      # superscription and line-group milestones): the first "Book C:V: " right after a tag or the line start.
      if ($line =~ /(?:^|>)\s*((?:[1-4I]{1,3} )?[A-Z][^<>:\t]*?) (\d+):(\d+): ?(.*)\z/) {
        flush();
        ($ref, $text) = ("$1 $2:$3", $4);
        ++$read;
      } elsif (defined $ref) {
        $text .= " $line";  # a verse that spans lines
      } elsif ($line =~ /\S/) {
        ++$orphan;
      }
    }
    flush();
    printf STDERR "clean: %d verses read, %d written, %d empty dropped%s\n", $read, $written, $empty,
      $orphan ? ", $orphan lines before the first reference ignored" : "";
    exit($written > 0 ? 0 : 1);
  '
}

# The whole module, Genesis 1:1 to Revelation 22:21 in its versification order (the WEB's deuterocanon lies
# between them), cleaned.
export_module() {
  local module
  module=$(module_name "$1")
  command -v diatheke >/dev/null || { echo "export_bible: diatheke is missing (scripts/setup.sh installs it)" >&2; exit 1; }
  local installed
  installed=$(diatheke -b system -k modulelistnames)  # not piped into grep -q: SIGPIPE under pipefail
  if ! grep -qx "$module" <<< "$installed"; then
    echo "export_bible: no SWORD module '$module'; installed: $(tr '\n' ' ' <<< "$installed")" >&2
    exit 1
  fi
  diatheke -b "$module" -f internal -k "Gen 1:1-Rev 22:21" | clean
}

[ $# -ge 1 ] || usage
case "$1" in
  clean)
    [ $# -eq 1 ] || usage
    clean
    ;;
  verses)
    [ $# -eq 3 ] || usage
    start=$(date +%s.%N)
    export_module "$2" > "$3.tmp"
    mv "$3.tmp" "$3"
    echo "export_bible: $(wc -l < "$3") verses of $(module_name "$2") -> $3 in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
    ;;
  pairs)
    [ $# -eq 4 ] || usage
    start=$(date +%s.%N)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    export_module "$2" > "$tmp/src"
    export_module "$3" > "$tmp/tgt"
    # Join on the reference, in the source's order; count the verses either side lacks.
    awk -F'\t' -v OFS='\t' -v src="$(module_name "$2")" -v tgt="$(module_name "$3")" '
      FNR == NR { target[$1] = $2; next }
      ($1 in target) { print $1, $2, target[$1]; seen[$1] = 1; ++pairs; next }
      { ++src_only }
      END {
        for (r in target) if (!(r in seen)) ++tgt_only
        printf "pairs: %d written; dropped %d verses only in %s, %d only in %s\n", pairs, src_only, src, tgt_only, tgt > "/dev/stderr"
      }' "$tmp/tgt" "$tmp/src" > "$4.tmp"
    mv "$4.tmp" "$4"
    echo "export_bible: $(wc -l < "$4") pairs -> $4 in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s" >&2
    ;;
  *) usage ;;
esac
