// Verse and pair files: the word-level corpora that scripts/export_bible.sh writes from Debian's SWORD
// Bibles, their split by book, and their tokens (data/words.hpp).
//
// Verse file: UTF-8 text, one verse a line, "Book C:V<TAB>text", e.g.
//     Genesis 1:1<TAB>In the beginning, God created the heavens and the earth.
//     I Samuel 3:4<TAB>Yahweh called Samuel. He said, “Here I am.”
// The reference is "Book C:V": the book is everything before the last space (it may hold spaces: "Song of
// Solomon", "Revelation of John"), C and V are positive integers. The text is not empty. A last line may
// end without '\n'. Refused, naming the file and line: an empty file, a line without a tab, a reference
// that is not "Book C:V", empty text, a second tab, a carriage return, a reference seen before (naming
// the earlier line), invalid UTF-8.
//
// Pair file: aligned sentences, either
//     Book C:V<TAB>source<TAB>target      (what `export_bible.sh pairs` writes: three columns)
// or
//     source<TAB>target                   (two columns, no references: such a file cannot be split by book)
// The first line decides which; every other line must have as many columns. Refused with the file and line:
// an empty file, a line of another number of columns, an empty column, a bad or repeated reference, a
// carriage return, invalid UTF-8. Both sides share one vocabulary (build it from both sides' counts).
//
// Split by book (book_split). Whole books are held out, so no verse of a test book is ever in training:
//     valid: Joshua, Ecclesiastes, Galatians, James         (kValidBooks)
//     test:  Judges, Proverbs, John, Philippians            (kTestBooks)
// (the book names diatheke prints). Every other book, the WEB's deuterocanon included, is training. Two
// books from each testament in each held-out split, of different kinds (narrative, wisdom, gospel,
// letters); John rather than a synoptic gospel, whose verses Matthew and Luke repeat almost word for word.
// On the KJV that is 1,137 valid and 2,516 test verses of 31,102.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/text8.hpp"  // Text8Split: the train / valid / test enum every corpus uses
#include "data/words.hpp"

namespace diffuse::data {

inline const std::vector<std::string> kValidBooks = {"Joshua", "Ecclesiastes", "Galatians", "James"};
inline const std::vector<std::string> kTestBooks = {"Judges", "Proverbs", "John", "Philippians"};

struct Verse {
  std::string book;
  int32_t chapter = 0, verse = 0;
  std::string text;
  int64_t line = 0;              // 1-based line in its file
  std::string reference() const;  // "Book C:V"
};

struct VerseFile {
  std::string path;
  std::vector<Verse> verses;
};

// Whether `line` (without its '\n') is a verse line: a reference 'Book C:V', one tab, non-empty text. What
// the text families look at to tell a verse file from a text8-format one.
bool is_verse_line(std::string_view line);
// Whether `line` is a pair line with a reference: 'Book C:V<TAB>source<TAB>target', both texts non-empty.
// What the text families look at to tell a pair file from a verse file.
bool is_pair_line(std::string_view line);

// Reads a verse file (see the header comment); std::runtime_error "<path>: line N: ..." when it is not one.
VerseFile load_verses(const std::string& path);
// The same from text in memory; `path` is only for messages.
VerseFile parse_verses(std::string_view text, const std::string& path);

struct TextPair {
  std::string book;  // empty in a two-column file
  int32_t chapter = 0, verse = 0;
  std::string source, target;
  int64_t line = 0;
};

struct PairFile {
  std::string path;
  bool has_references = false;  // three columns
  std::vector<TextPair> pairs;
};

PairFile load_pairs(const std::string& path);
PairFile parse_pairs(std::string_view text, const std::string& path);

// The held-out books of each split.
struct BookSplit {
  std::vector<std::string> valid = kValidBooks, test = kTestBooks;
  // The split of a book: Valid or Test when listed there, Train otherwise.
  Text8Split of(const std::string& book) const;
};

// The verses or pairs of one split, in file order. Throws std::runtime_error naming the file when the split
// is empty (a corpus without the held-out books, or a pair file without references).
std::vector<Verse> select_split(const VerseFile& file, Text8Split split, const BookSplit& books = {});
std::vector<TextPair> select_split(const PairFile& file, Text8Split split, const BookSplit& books = {});

// Tokenized verses ("<path>:<line> (<reference>)" as where); the source or the target side of pairs.
std::vector<TokenizedText> tokenize_verses(const std::vector<Verse>& verses, const std::string& path);
enum class PairSide { Source, Target };
std::vector<TokenizedText> tokenize_pairs(const std::vector<TextPair>& pairs, PairSide side, const std::string& path);

// Counts of the tokens of `texts` (the training split's, to build the vocabulary from; for pairs, both sides).
TokenCounts count_tokens(const std::vector<TokenizedText>& texts);

}  // namespace diffuse::data
