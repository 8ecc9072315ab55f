#include "data/bible_books.hpp"

#include <stdexcept>

namespace diffuse::data {

const std::vector<BookFacts>& bible_books() {
  using enum Testament;
  using enum BookGroup;
  static const std::vector<BookFacts> books = {
      {"Genesis", Old, Law}, {"Exodus", Old, Law}, {"Leviticus", Old, Law}, {"Numbers", Old, Law}, {"Deuteronomy", Old, Law},
      {"Joshua", Old, History}, {"Judges", Old, History}, {"Ruth", Old, History}, {"I Samuel", Old, History},
      {"II Samuel", Old, History}, {"I Kings", Old, History}, {"II Kings", Old, History}, {"I Chronicles", Old, History},
      {"II Chronicles", Old, History}, {"Ezra", Old, History}, {"Nehemiah", Old, History}, {"Esther", Old, History},
      {"Job", Old, Poetry}, {"Psalms", Old, Poetry}, {"Proverbs", Old, Poetry}, {"Ecclesiastes", Old, Poetry},
      {"Song of Solomon", Old, Poetry},
      {"Isaiah", Old, Prophets}, {"Jeremiah", Old, Prophets}, {"Lamentations", Old, Prophets}, {"Ezekiel", Old, Prophets},
      {"Daniel", Old, Prophets}, {"Hosea", Old, Prophets}, {"Joel", Old, Prophets}, {"Amos", Old, Prophets},
      {"Obadiah", Old, Prophets}, {"Jonah", Old, Prophets}, {"Micah", Old, Prophets}, {"Nahum", Old, Prophets},
      {"Habakkuk", Old, Prophets}, {"Zephaniah", Old, Prophets}, {"Haggai", Old, Prophets}, {"Zechariah", Old, Prophets},
      {"Malachi", Old, Prophets},
      {"Tobit", Old, History}, {"Judith", Old, History}, {"Esther (Greek)", Old, History}, {"Wisdom", Old, Poetry},
      {"Sirach", Old, Poetry}, {"Baruch", Old, Prophets}, {"I Maccabees", Old, History}, {"II Maccabees", Old, History},
      {"I Esdras", Old, History}, {"Prayer of Manasses", Old, Poetry}, {"Additional Psalm", Old, Poetry},
      {"III Maccabees", Old, History}, {"II Esdras", Old, Prophets}, {"IV Maccabees", Old, History},
      {"Matthew", New, Gospels}, {"Mark", New, Gospels}, {"Luke", New, Gospels}, {"John", New, Gospels}, {"Acts", New, History},
      {"Romans", New, Letters}, {"I Corinthians", New, Letters}, {"II Corinthians", New, Letters}, {"Galatians", New, Letters},
      {"Ephesians", New, Letters}, {"Philippians", New, Letters}, {"Colossians", New, Letters},
      {"I Thessalonians", New, Letters}, {"II Thessalonians", New, Letters}, {"I Timothy", New, Letters},
      {"II Timothy", New, Letters}, {"Titus", New, Letters}, {"Philemon", New, Letters}, {"Hebrews", New, Letters},
      {"James", New, Letters}, {"I Peter", New, Letters}, {"II Peter", New, Letters}, {"I John", New, Letters},
      {"II John", New, Letters}, {"III John", New, Letters}, {"Jude", New, Letters}, {"Revelation of John", New, Prophets},
  };
  return books;
}

const BookFacts& book_facts(const std::string& book) {
  for (const BookFacts& b : bible_books())
    if (book == b.name) return b;
  throw std::invalid_argument("book \"" + book + "\" is not one of the 80 books of the exported Bibles (data/bible_books.cpp)");
}

}  // namespace diffuse::data
