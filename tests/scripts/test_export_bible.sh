#!/usr/bin/env bash
# The cleaning stage of scripts/export_bible.sh on made-up diatheke output (`-f internal`, the modules'
# OSIS markup), so that it is tested without the SWORD modules: glued <w> elements split (WEB "Godcreated"),
# words split across elements kept whole (KJV "tear</w>s"), enclitics kept (RV1909), psalm superscriptions
# printed before the reference dropped, footnotes, headings and speakers dropped, a verse spanning lines
# joined, spaces the source left out after punctuation restored, the WEB glossary cut, entities decoded, empty verses dropped and counted.
# Usage: test_export_bible.sh path/to/scripts/export_bible.sh
set -uo pipefail
script=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cat > "$work/in.txt" <<'IN'
Genesis 1:1: <w savlm="strong:H0430">In</w> <w savlm="strong:H0853">the</w> <w savlm="strong:H7225">beginning</w>, <w savlm="strong:H0430">God</w><w savlm="strong:H1254">created</w> <w savlm="strong:H0853">the</w> <w>heavens</w>.
Genesis 1:2: <w>God’s</w> <w>Spirit</w> <div eID="gen25" type="x-p"/>
<title canonical="true" type="psalm">A Psalm by David.</title> <lg sID="gen7860"/> <l level="1" sID="gen7861"/>Psalms 3:1: Yahweh<w>will</w> <w>answer</w>.<l eID="x" level="1"/><l level="2" sID="y"/>Amen<note type="x-footnote">Or, truly</note>.
Luke 7:38: <w savlm="strong:G1144">with tear</w>s, he being <w>afrai</w>d <transChange type="added">was</transChange> <divineName>Lord</divineName> &amp; &lt;sic&gt;
Genesis 4:1: <w>She</w> <w>conceived</w>,<w>and</w> <w>gave</w>.<w>Then</w> east,they went a sabbath <w>day</w>’<w>s</w> <w>journey</w>: 3:16
Genesis 2:4: <w>hay allí</w><transChange type="added">también</transChange><w>bdelio</w>, repartiéron<transChange type="added">lo</transChange> <w>prestamente</w>
Song of Solomon 1:5: <speaker>Beloved</speaker> <lg sID="a"/> <l level="1" sID="b"/>I am dark,
but lovely.<title type="x-heading">Section</title>
Obadiah 1:22: <milestone type="line"/>   
Revelation of John 22:21: <w>Amen</w>.<chapter eID="Rev.22"/> <div sID="g" type="glossary"/> The following words used in the WEB.
(engWEB2015eb)
IN
cat > "$work/want.txt" <<'WANT'
Genesis 1:1	In the beginning, God created the heavens.
Genesis 1:2	God’s Spirit
Psalms 3:1	Yahweh will answer. Amen.
Luke 7:38	with tears, he being afraid was Lord & <sic>
Genesis 4:1	She conceived, and gave. Then east, they went a sabbath day’s journey: 3:16
Genesis 2:4	hay allí también bdelio, repartiéronlo prestamente
Song of Solomon 1:5	I am dark, but lovely.
Revelation of John 22:21	Amen.
WANT
"$script" clean < "$work/in.txt" > "$work/out.txt" 2> "$work/err.txt" || fail "clean exited $?: $(cat "$work/err.txt")"
diff "$work/want.txt" "$work/out.txt" > "$work/diff.txt" || fail "cleaned verses differ from the expected ones:
$(cat "$work/diff.txt")"
grep -q "clean: 9 verses read, 8 written, 1 empty dropped" "$work/err.txt" || fail "counts: $(cat "$work/err.txt")"

# Nothing recognisable: exit 1 with the counts.
echo "(engWEB2015eb)" | "$script" clean > /dev/null 2> "$work/err.txt" && fail "clean accepted input without verses"
grep -q "0 verses read" "$work/err.txt" || fail "no counts for input without verses: $(cat "$work/err.txt")"
# Usage errors exit 2.
"$script" verses > /dev/null 2>&1; [ $? -eq 2 ] || fail "verses without arguments did not exit 2"
"$script" bogus > /dev/null 2>&1; [ $? -eq 2 ] || fail "an unknown verb did not exit 2"

if [ $failures -ne 0 ]; then echo "$failures failure(s)"; exit 1; fi
echo "export_bible.sh: all checks passed"
