// Self-contained SVG (no scripts, no external references) for `sluice plot` and
// `sluice profile --svg`: a small element writer and the two charts the plots need, a heat
// map and a bar chart. Every drawn datum carries its numbers as data-* attributes (so tests
// and scripts can read the plot back) and a <title> tooltip for the browser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// Text with &, <, >, " and ' escaped for XML content and attribute values.
std::string xml_escape(std::string_view text);

// Colour scales as "#rrggbb": sequential (t in [0, 1], dark blue to yellow, viridis-like)
// and diverging (t in [-1, 1], blue through white to red).
std::string sequential_colour(double t);
std::string diverging_colour(double t);

class svg_writer {
  public:
    svg_writer(double width, double height);
    // Appends an element written by the caller (already escaped).
    void raw(std::string_view element);
    void text(double x, double y, std::string_view content, std::string_view attrs = "");
    void rect(double x, double y, double w, double h, std::string_view fill, std::string_view attrs = "",
              std::string_view tooltip = "");
    void line(double x1, double y1, double x2, double y2, std::string_view stroke = "#444");
    // The whole document, XML declaration first.
    std::string finish() const;

  private:
    double      width_, height_;
    std::string body_;
};

// A grid of cells: rows top to bottom, columns left to right; values[row * cols + col].
struct heatmap_chart {
    std::string         title, x_label, y_label, value_label;
    std::string         row_attr = "data-layer", col_attr = "data-expert";  // each cell's id attributes
    std::vector<int>    row_ids, col_ids;
    std::vector<double> values;
    std::vector<bool>   grey;               // cells drawn grey, outside the colour scale (optional)
    bool                diverging = false;  // scale symmetric around 0 (log-ratios)
    std::string         note;               // a line under the title (what the data cannot say)
};

// Bars per category (one group per x position): series stacked, or side by side.
struct bar_chart {
    std::string                      title, x_label, y_label;
    std::string                      category_attr = "data-layer";
    std::vector<int>                 categories;
    std::vector<std::string>         series;  // names, for the legend and data-series
    std::vector<std::vector<double>> values;  // [series][category]
    bool                             stacked = true;
    std::string                      note;
};

std::string render_heatmap(const heatmap_chart & c);
std::string render_bars(const bar_chart & c);

}  // namespace sluice
