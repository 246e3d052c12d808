// A plain-text table for terminal output: a header row and data rows, each column padded to
// its widest cell, numbers right-aligned. The last column is never padded, so a long
// free-text column (a rejection reason) can go there without widening every line.
// Value type; not thread-safe.
#ifndef GPUFIT_RENDER_TEXT_TABLE_H_
#define GPUFIT_RENDER_TEXT_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

namespace gpufit::render {

class TextTable {
 public:
  enum class Align { kLeft, kRight };

  // Adds a column; call before AddRow.
  void AddColumn(std::string header, Align align = Align::kLeft);
  // Adds a row; missing trailing cells are empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // Writes the header and the rows, columns separated by two spaces, lines without
  // trailing blanks.
  void Render(std::ostream& out) const;

 private:
  struct Column {
    std::string header;
    Align align;
  };
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gpufit::render

#endif  // GPUFIT_RENDER_TEXT_TABLE_H_
