// The books of the Bibles that scripts/export_bible.sh exports (diatheke's book names), with the two labels
// Diffusion-LM's attribute control uses: the testament and a group of books of one kind.
//
// Testament: the 27 books of the New Testament are "new"; every other book is "old", the deuterocanonical
// books of the WEB (Tobit ... IV Maccabees) included.
// Groups (six, by kind of writing):
//     law        Genesis ... Deuteronomy
//     history    Joshua ... Esther; Tobit, Judith, Esther (Greek), I-IV Maccabees, I Esdras; Acts
//     poetry     Job, Psalms, Proverbs, Ecclesiastes, Song of Solomon; Wisdom, Sirach, Prayer of Manasses,
//                Additional Psalm
//     prophets   Isaiah ... Malachi (Lamentations and Daniel among them); Baruch, II Esdras; Revelation of John
//     gospels    Matthew, Mark, Luke, John
//     letters    Romans ... Jude
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace diffuse::data {

enum class Testament { Old, New };
enum class BookGroup { Law, History, Poetry, Prophets, Gospels, Letters };

inline const std::vector<std::string> kTestamentNames = {"old", "new"};
inline const std::vector<std::string> kBookGroupNames = {"law", "history", "poetry", "prophets", "gospels", "letters"};

struct BookFacts {
  const char* name;  // as diatheke prints it
  Testament testament;
  BookGroup group;
};

// Every book the three Bibles hold (80 names: 39 + 14 deuterocanonical + 27), in the WEB's order.
const std::vector<BookFacts>& bible_books();

// The facts of a book; throws std::invalid_argument naming a book that is not in the table.
const BookFacts& book_facts(const std::string& book);

}  // namespace diffuse::data
