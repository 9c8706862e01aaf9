#include "tools/svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace sluice {
namespace {

struct rgb {
    double r, g, b;
};

std::string hex(rgb c) {
    const auto byte = [](double v) { return static_cast<int>(std::lround(std::clamp(v, 0.0, 255.0))); };
    return fmt::format("#{:02x}{:02x}{:02x}", byte(c.r), byte(c.g), byte(c.b));
}

// Piecewise-linear interpolation between evenly spaced stops, t in [0, 1].
template <size_t N>
std::string interpolate(const std::array<rgb, N> & stops, double t) {
    if (!std::isfinite(t)) {
        t = 0.0;
    }
    t              = std::clamp(t, 0.0, 1.0) * static_cast<double>(N - 1);
    const size_t i = std::min(static_cast<size_t>(t), N - 2);
    const double f = t - static_cast<double>(i);
    const rgb &  a = stops[i];
    const rgb &  b = stops[i + 1];
    return hex({a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f});
}

// "data-layer" -> "layer", for tooltips.
std::string_view attr_word(std::string_view attr) {
    return attr.starts_with("data-") ? attr.substr(5) : attr;
}

// Numbers in attributes and labels: shortest round-trip form, so a reader gets the value back.
std::string num(double v) {
    return fmt::format("{}", v);
}

// A label every this many ticks, so that neighbours stay at least `min_px` apart.
size_t tick_step(double px_each, double min_px) {
    return std::max<size_t>(1, static_cast<size_t>(std::ceil(min_px / std::max(px_each, 1e-9))));
}

// Wide enough for the title (16 px bold) and the note (11 px) at ~0.6 em per character.
double text_width(const std::string & title, const std::string & note) {
    return std::max(10.0 * static_cast<double>(title.size()), 6.6 * static_cast<double>(note.size())) + 40;
}

void title_block(svg_writer & s, double width, const std::string & title, const std::string & note) {
    s.text(width / 2, 24, title, R"(text-anchor="middle" font-size="16" font-weight="bold")");
    if (!note.empty()) {
        s.text(width / 2, 42, note, R"(text-anchor="middle" font-size="11" fill="#555")");
    }
}

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                // Control characters other than tab/newline are not allowed in XML 1.0.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                    out += ' ';
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string sequential_colour(double t) {
    static constexpr std::array<rgb, 5> viridis{
        {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
    return interpolate(viridis, t);
}

std::string diverging_colour(double t) {
    static constexpr std::array<rgb, 3> rdbu{{{33, 102, 172}, {247, 247, 247}, {178, 24, 43}}};
    return interpolate(rdbu, (std::isfinite(t) ? t : 0.0) * 0.5 + 0.5);
}

svg_writer::svg_writer(double width, double height) : width_(width), height_(height) {}

void svg_writer::raw(std::string_view element) {
    body_ += element;
    body_ += '\n';
}

void svg_writer::text(double x, double y, std::string_view content, std::string_view attrs) {
    body_ += fmt::format(R"(<text x="{:.1f}" y="{:.1f}" {}>{}</text>)", x, y, attrs, xml_escape(content));
    body_ += '\n';
}

void svg_writer::rect(double x, double y, double w, double h, std::string_view fill, std::string_view attrs,
                      std::string_view tooltip) {
    body_ += fmt::format(R"(<rect x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="{}" {})", x, y, w, h, fill,
                         attrs);
    if (tooltip.empty()) {
        body_ += "/>\n";
    } else {
        body_ += fmt::format("><title>{}</title></rect>\n", xml_escape(tooltip));
    }
}

void svg_writer::line(double x1, double y1, double x2, double y2, std::string_view stroke) {
    body_ += fmt::format(R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="1"/>)", x1,
                         y1, x2, y2, stroke);
    body_ += '\n';
}

std::string svg_writer::finish() const {
    return fmt::format(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
        "viewBox=\"0 0 {:.0f} {:.0f}\" font-family=\"sans-serif\">\n"
        "<rect x=\"0\" y=\"0\" width=\"{:.0f}\" height=\"{:.0f}\" fill=\"white\"/>\n{}</svg>\n",
        width_, height_, width_, height_, width_, height_, body_);
}

std::string render_heatmap(const heatmap_chart & c) {
    const size_t rows = c.row_ids.size(), cols = c.col_ids.size();
    const double cw   = std::clamp(720.0 / static_cast<double>(std::max<size_t>(cols, 1)), 4.0, 28.0);
    const double ch   = std::clamp(480.0 / static_cast<double>(std::max<size_t>(rows, 1)), 4.0, 28.0);
    const double left = 80, top = 60;
    const double pw = cw * static_cast<double>(cols), ph = ch * static_cast<double>(rows);
    const double lh    = std::max(ph, 160.0);  // legend height
    const double width = std::max(left + pw + 150, text_width(c.title, c.note)), height = top + lh + 60;

    // The colour scale covers the cells that are not grey.
    double lo = 0, hi = 0;
    bool   first = true;
    for (size_t i = 0; i < c.values.size(); ++i) {
        if (i < c.grey.size() && c.grey[i]) {
            continue;
        }
        const double v = c.values[i];
        lo             = first ? v : std::min(lo, v);
        hi             = first ? v : std::max(hi, v);
        first          = false;
    }
    if (c.diverging) {
        hi = std::max({std::fabs(lo), std::fabs(hi), 1e-12});
        lo = -hi;
    } else if (hi <= lo) {
        hi = lo + 1;
    }
    const auto colour = [&](double v) {
        return c.diverging ? diverging_colour(v / hi) : sequential_colour((v - lo) / (hi - lo));
    };

    svg_writer s(width, height);
    title_block(s, width, c.title, c.note);
    const std::string_view rw = attr_word(c.row_attr), cwd = attr_word(c.col_attr);
    for (size_t r = 0; r < rows; ++r) {
        for (size_t k = 0; k < cols; ++k) {
            const size_t i    = r * cols + k;
            const double v    = i < c.values.size() ? c.values[i] : 0.0;
            const bool   grey = i < c.grey.size() && c.grey[i];
            s.rect(left + cw * static_cast<double>(k), top + ch * static_cast<double>(r), cw, ch,
                   grey ? "#bbbbbb" : colour(v),
                   fmt::format(R"({}="{}" {}="{}" data-value="{}")", c.row_attr, c.row_ids[r], c.col_attr, c.col_ids[k],
                               num(v)),
                   fmt::format("{} {}, {} {}: {}", rw, c.row_ids[r], cwd, c.col_ids[k], num(v)));
        }
    }
    // Axes: ticks every few cells so labels never overlap; names of the axes.
    const size_t xs = tick_step(cw, 22), ys = tick_step(ch, 12);
    for (size_t k = 0; k < cols; k += xs) {
        s.text(left + cw * (static_cast<double>(k) + 0.5), top + ph + 14, std::to_string(c.col_ids[k]),
               R"(text-anchor="middle" font-size="10")");
    }
    for (size_t r = 0; r < rows; r += ys) {
        s.text(left - 6, top + ch * (static_cast<double>(r) + 0.5) + 3.5, std::to_string(c.row_ids[r]),
               R"(text-anchor="end" font-size="10")");
    }
    s.text(left + pw / 2, top + ph + 34, c.x_label, R"(text-anchor="middle" font-size="12")");
    s.text(20, top + ph / 2, c.y_label,
           fmt::format(R"x(text-anchor="middle" font-size="12" transform="rotate(-90 20 {:.1f})")x", top + ph / 2));

    // The colour legend: a column of steps, high at the top, with its end and middle values.
    const double lx    = left + pw + 30;
    const int    steps = 40;
    for (int i = 0; i < steps; ++i) {
        const double v = hi - (hi - lo) * (i + 0.5) / steps;
        s.rect(lx, top + lh * i / steps, 16, lh / steps + 0.5, colour(v), R"(class="legend")");
    }
    s.text(lx + 22, top + 8, fmt::format("{:.4g}", hi), R"(font-size="10")");
    s.text(lx + 22, top + lh / 2 + 4, fmt::format("{:.4g}", (hi + lo) / 2), R"(font-size="10")");
    s.text(lx + 22, top + lh, fmt::format("{:.4g}", lo), R"(font-size="10")");
    s.text(lx + 8, top + lh + 20, c.value_label, R"(text-anchor="middle" font-size="11")");
    if (!c.grey.empty()) {
        s.rect(lx, top + lh + 30, 16, 10, "#bbbbbb", R"(class="legend")");
        s.text(lx + 22, top + lh + 39, "outside the scale", R"(font-size="10")");
    }
    return s.finish();
}

std::string render_bars(const bar_chart & c) {
    static constexpr std::array<const char *, 6> palette{"#2ca02c", "#ff7f0e", "#d62728",
                                                         "#1f77b4", "#9467bd", "#8c564b"};
    const size_t                                 n = c.categories.size();
    const double bw   = std::clamp(640.0 / static_cast<double>(std::max<size_t>(n, 1)), 6.0, 40.0);
    const double left = 80, top = 60, pw = bw * static_cast<double>(n), ph = 300;
    const double width = std::max(left + pw + 170, text_width(c.title, c.note)), height = top + ph + 60;

    double ymax = 0;
    for (size_t k = 0; k < n; ++k) {
        double sum = 0;
        for (const auto & v : c.values) {
            const double x = k < v.size() ? std::max(v[k], 0.0) : 0.0;
            sum            = c.stacked ? sum + x : std::max(sum, x);
        }
        ymax = std::max(ymax, sum);
    }
    if (ymax <= 0) {
        ymax = 1;
    }

    svg_writer s(width, height);
    title_block(s, width, c.title, c.note);
    // Y axis with five gridlines.
    for (int i = 0; i <= 5; ++i) {
        const double y = top + ph - ph * i / 5;
        s.line(left, y, left + pw, y, i == 0 ? "#444" : "#dddddd");
        s.text(left - 6, y + 3.5, fmt::format("{:.3g}", ymax * i / 5), R"(text-anchor="end" font-size="10")");
    }
    const double m = static_cast<double>(std::max<size_t>(c.values.size(), 1));
    for (size_t k = 0; k < n; ++k) {
        double base = 0;
        for (size_t j = 0; j < c.values.size(); ++j) {
            const double v  = k < c.values[j].size() ? std::max(c.values[j][k], 0.0) : 0.0;
            const double h  = ph * v / ymax;
            const double x0 = left + bw * static_cast<double>(k) + 1;
            const double w  = c.stacked ? bw - 2 : (bw - 2) / m;
            s.rect(c.stacked ? x0 : x0 + w * static_cast<double>(j), top + ph - ph * base / ymax - h, w, h,
                   palette[j % palette.size()],
                   fmt::format(R"({}="{}" data-series="{}" data-value="{}")", c.category_attr, c.categories[k],
                               xml_escape(c.series[j]), num(c.values[j][k])),
                   fmt::format("{} {}, {}: {}", attr_word(c.category_attr), c.categories[k], c.series[j],
                               num(c.values[j][k])));
            base += c.stacked ? v : 0.0;
        }
    }
    const size_t xs = tick_step(bw, 22);
    for (size_t k = 0; k < n; k += xs) {
        s.text(left + bw * (static_cast<double>(k) + 0.5), top + ph + 14, std::to_string(c.categories[k]),
               R"(text-anchor="middle" font-size="10")");
    }
    s.text(left + pw / 2, top + ph + 34, c.x_label, R"(text-anchor="middle" font-size="12")");
    s.text(20, top + ph / 2, c.y_label,
           fmt::format(R"x(text-anchor="middle" font-size="12" transform="rotate(-90 20 {:.1f})")x", top + ph / 2));
    for (size_t j = 0; j < c.series.size(); ++j) {
        const double y = top + 20.0 * static_cast<double>(j);
        s.rect(left + pw + 24, y, 12, 12, palette[j % palette.size()], R"(class="legend")");
        s.text(left + pw + 42, y + 10, c.series[j], R"(font-size="11")");
    }
    return s.finish();
}

}  // namespace sluice
