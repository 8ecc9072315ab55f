#include "data/verses.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

#include "data/file_io.hpp"

namespace diffuse::data {

namespace {

// The lines of a file: '\n'-separated, a last line without '\n' allowed, the empty remainder after a final
// '\n' not a line. Calls f(line_number, line).
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  int64_t number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    f(++number, text.substr(pos, end - pos));
    pos = end + 1;
  }
}

[[noreturn]] void line_error(const std::string& path, int64_t line, const std::string& what) {
  file_error(path, "line " + std::to_string(line) + ": " + what);
}

// A positive decimal integer that fits int32, or -1.
int32_t parse_positive(std::string_view s) {
  if (s.empty() || s.size() > 9) return -1;
  int32_t v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v > 0 ? v : -1;
}

// "Book C:V" -> book, chapter, verse; false when it is not of that form.
bool parse_reference(std::string_view ref, std::string& book, int32_t& chapter, int32_t& verse) {
  const size_t space = ref.rfind(' ');
  if (space == std::string_view::npos || space == 0) return false;
  const std::string_view cv = ref.substr(space + 1);
  const size_t colon = cv.find(':');
  if (colon == std::string_view::npos) return false;
  chapter = parse_positive(cv.substr(0, colon));
  verse = parse_positive(cv.substr(colon + 1));
  if (chapter < 0 || verse < 0) return false;
  book = std::string(ref.substr(0, space));
  return book.find_first_not_of(' ') != std::string::npos && book.front() != ' ';
}

std::string reference_of(const std::string& book, int32_t chapter, int32_t verse) {
  return book + " " + std::to_string(chapter) + ":" + std::to_string(verse);
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  for (;;) {
    const size_t tab = line.find('\t', pos);
    fields.push_back(line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
    if (tab == std::string_view::npos) return fields;
    pos = tab + 1;
  }
}

// Refuses a carriage return or invalid UTF-8 in a line.
void check_line_text(const std::string& path, int64_t number, std::string_view line) {
  if (line.find('\r') != std::string_view::npos) line_error(path, number, "a carriage return (CRLF line ends?); the file uses \\n");
  try {
    tokenize_words(line);  // decodes every code point
  } catch (const std::invalid_argument& e) {
    line_error(path, number, e.what());
  }
}

// Remembers the line of each reference; refuses a repeat.
class SeenReferences {
 public:
  void add(const std::string& path, int64_t line, const std::string& ref) {
    const auto [it, fresh] = lines_.emplace(ref, line);
    if (!fresh) line_error(path, line, "the reference '" + ref + "' again (first on line " + std::to_string(it->second) + ")");
  }

 private:
  std::unordered_map<std::string, int64_t> lines_;
};

const char* kVerseFormat = "a verse line is 'Book C:V<TAB>text'";
const char* kPairFormat = "a pair line is 'Book C:V<TAB>source<TAB>target' or 'source<TAB>target'";

std::string text_of(const std::vector<uint8_t>& bytes) { return std::string(bytes.begin(), bytes.end()); }

}  // namespace

std::string Verse::reference() const { return reference_of(book, chapter, verse); }

bool is_verse_line(std::string_view line) {
  const std::vector<std::string_view> fields = split_tabs(line);
  std::string book;
  int32_t chapter = 0, verse = 0;
  return fields.size() == 2 && parse_reference(fields[0], book, chapter, verse) &&
         fields[1].find_first_not_of(' ') != std::string_view::npos;
}

bool is_pair_line(std::string_view line) {
  const std::vector<std::string_view> fields = split_tabs(line);
  std::string book;
  int32_t chapter = 0, verse = 0;
  return fields.size() == 3 && parse_reference(fields[0], book, chapter, verse) &&
         fields[1].find_first_not_of(' ') != std::string_view::npos && fields[2].find_first_not_of(' ') != std::string_view::npos;
}

VerseFile parse_verses(std::string_view text, const std::string& path) {
  if (text.empty()) file_error(path, "empty (0 bytes); a verse file has one verse a line: 'Book C:V<TAB>text'");
  VerseFile file;
  file.path = path;
  SeenReferences seen;
  for_each_line(text, [&](int64_t number, std::string_view line) {
    check_line_text(path, number, line);
    const std::vector<std::string_view> fields = split_tabs(line);
    if (fields.size() == 1)
      line_error(path, number, std::string(line.empty() ? "an empty line" : "no tab after the reference") + "; " + kVerseFormat);
    if (fields.size() > 2) line_error(path, number, std::to_string(fields.size() - 1) + " tabs; " + kVerseFormat);
    Verse v;
    if (!parse_reference(fields[0], v.book, v.chapter, v.verse))
      line_error(path, number, "'" + std::string(fields[0]) + "' is not a reference 'Book C:V'; " + kVerseFormat);
    if (fields[1].find_first_not_of(' ') == std::string_view::npos) line_error(path, number, "no text after the reference");
    v.text = std::string(fields[1]);
    v.line = number;
    seen.add(path, number, v.reference());
    file.verses.push_back(std::move(v));
  });
  return file;
}

VerseFile load_verses(const std::string& path) { return parse_verses(text_of(read_file_bytes(path, "verse file")), path); }

PairFile parse_pairs(std::string_view text, const std::string& path) {
  if (text.empty()) file_error(path, std::string("empty (0 bytes); ") + kPairFormat);
  PairFile file;
  file.path = path;
  SeenReferences seen;
  size_t columns = 0;
  for_each_line(text, [&](int64_t number, std::string_view line) {
    check_line_text(path, number, line);
    const std::vector<std::string_view> fields = split_tabs(line);
    if (number == 1) {
      if (fields.size() != 2 && fields.size() != 3)
        line_error(path, number, std::to_string(fields.size()) + " tab-separated column" + (fields.size() == 1 ? "" : "s") + "; " + kPairFormat);
      columns = fields.size();
      file.has_references = columns == 3;
    } else if (fields.size() != columns) {
      line_error(path, number, std::to_string(fields.size()) + " tab-separated column" + (fields.size() == 1 ? "" : "s") + " where line 1 has " +
                                   std::to_string(columns) + "; " + kPairFormat);
    }
    TextPair p;
    p.line = number;
    size_t k = 0;
    if (file.has_references) {
      if (!parse_reference(fields[0], p.book, p.chapter, p.verse))
        line_error(path, number, "'" + std::string(fields[0]) + "' is not a reference 'Book C:V'; " + kPairFormat);
      seen.add(path, number, reference_of(p.book, p.chapter, p.verse));
      k = 1;
    }
    for (size_t side = 0; side < 2; ++side)
      if (fields[k + side].find_first_not_of(' ') == std::string_view::npos)
        line_error(path, number, std::string("the ") + (side == 0 ? "source" : "target") + " is empty");
    p.source = std::string(fields[k]);
    p.target = std::string(fields[k + 1]);
    file.pairs.push_back(std::move(p));
  });
  return file;
}

PairFile load_pairs(const std::string& path) { return parse_pairs(text_of(read_file_bytes(path, "pair file")), path); }

Text8Split BookSplit::of(const std::string& book) const {
  if (std::find(test.begin(), test.end(), book) != test.end()) return Text8Split::Test;
  if (std::find(valid.begin(), valid.end(), book) != valid.end()) return Text8Split::Valid;
  return Text8Split::Train;
}

namespace {
template <typename Item>
std::vector<Item> select(const std::vector<Item>& items, const std::string& path, Text8Split split, const BookSplit& books) {
  std::vector<Item> out;
  for (const Item& item : items)
    if (books.of(item.book) == split) out.push_back(item);
  if (out.empty()) {
    std::string names;
    for (const std::string& b : split == Text8Split::Valid ? books.valid : books.test) names += (names.empty() ? "" : ", ") + b;
    file_error(path, std::string("no verse in the ") + split_name(split) + " split" + (split == Text8Split::Train ? "" : " (books " + names + ")"));
  }
  return out;
}
}  // namespace

std::vector<Verse> select_split(const VerseFile& file, Text8Split split, const BookSplit& books) {
  return select(file.verses, file.path, split, books);
}

std::vector<TextPair> select_split(const PairFile& file, Text8Split split, const BookSplit& books) {
  if (!file.has_references)
    file_error(file.path, "two columns, no references: a pair file without 'Book C:V' cannot be split by book");
  return select(file.pairs, file.path, split, books);
}

std::vector<TokenizedText> tokenize_verses(const std::vector<Verse>& verses, const std::string& path) {
  std::vector<TokenizedText> out;
  out.reserve(verses.size());
  for (const Verse& v : verses) out.push_back({path + ":" + std::to_string(v.line) + " (" + v.reference() + ")", tokenize_words(v.text)});
  return out;
}

std::vector<TokenizedText> tokenize_pairs(const std::vector<TextPair>& pairs, PairSide side, const std::string& path) {
  std::vector<TokenizedText> out;
  out.reserve(pairs.size());
  for (const TextPair& p : pairs) {
    std::string where = path + ":" + std::to_string(p.line);
    if (!p.book.empty()) where += " (" + reference_of(p.book, p.chapter, p.verse) + ")";
    where += side == PairSide::Source ? ", source" : ", target";
    out.push_back({std::move(where), tokenize_words(side == PairSide::Source ? p.source : p.target)});
  }
  return out;
}

TokenCounts count_tokens(const std::vector<TokenizedText>& texts) {
  TokenCounts counts;
  for (const TokenizedText& t : texts) counts.add(t.tokens);
  return counts;
}

}  // namespace diffuse::data
