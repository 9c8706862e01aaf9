#include "tools/plot.h"

#include "tools/svg.h"
#include "util/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace sluice {
namespace {

// The trace's MoE layers in order, and one past its largest expert id.
struct trace_shape {
    std::vector<int> layers;
    int              n_expert = 0;
};

trace_shape shape_of(const routing_trace & t) {
    std::set<int> layers;
    int           top = -1;
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            layers.insert(l.layer);
            for (int32_t e : l.experts) {
                if (e < 0) {
                    fail("plot: the trace has a negative expert id {} (token at position {}, layer {})", e, tok.pos,
                         l.layer);
                }
                top = std::max(top, static_cast<int>(e));
            }
        }
    }
    if (t.tokens.empty() || layers.empty() || top < 0) {
        fail("plot: the trace has no routing (no tokens with MoE layers)");
    }
    return {std::vector<int>(layers.begin(), layers.end()), top + 1};
}

std::string heatmap(const routing_trace & t, const std::string & source) {
    const trace_shape     s = shape_of(t);
    std::map<int, size_t> row;
    for (size_t i = 0; i < s.layers.size(); ++i) {
        row[s.layers[i]] = i;
    }
    heatmap_chart c;
    c.title       = "Routing: tokens that chose each expert";
    c.note        = fmt::format("{}: {} tokens", source, t.tokens.size());
    c.x_label     = "expert";
    c.y_label     = "layer";
    c.value_label = "tokens";
    c.row_ids     = s.layers;
    for (int e = 0; e < s.n_expert; ++e) {
        c.col_ids.push_back(e);
    }
    c.values.assign(s.layers.size() * static_cast<size_t>(s.n_expert), 0.0);
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            for (int32_t e : std::set<int32_t>(l.experts.begin(), l.experts.end())) {
                c.values[row[l.layer] * static_cast<size_t>(s.n_expert) + static_cast<size_t>(e)] += 1;
            }
        }
    }
    return render_heatmap(c);
}

std::string coactivation(const routing_trace & t, int layer, const std::string & source) {
    const trace_shape s = shape_of(t);
    if (layer < 0) {
        layer = s.layers.front();
    }
    if (!std::binary_search(s.layers.begin(), s.layers.end(), layer)) {
        fail("plot: layer {} is not a MoE layer of the trace (it has {})", layer, fmt::join(s.layers, ", "));
    }
    const auto    E = static_cast<size_t>(s.n_expert);
    heatmap_chart c;
    c.title   = fmt::format("Co-activation in layer {}: tokens that chose both experts", layer);
    c.note    = fmt::format("{}: {} tokens; diagonal (grey): tokens that chose the expert", source, t.tokens.size());
    c.x_label = "expert j";
    c.y_label = "expert i";
    c.value_label = "tokens";
    c.row_attr    = "data-i";
    c.col_attr    = "data-j";
    for (size_t e = 0; e < E; ++e) {
        c.row_ids.push_back(static_cast<int>(e));
        c.col_ids.push_back(static_cast<int>(e));
    }
    c.values.assign(E * E, 0.0);
    c.grey.assign(E * E, false);
    for (size_t e = 0; e < E; ++e) {
        c.grey[e * E + e] = true;
    }
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            if (l.layer != layer) {
                continue;
            }
            const std::set<int32_t> chosen(l.experts.begin(), l.experts.end());
            for (int32_t i : chosen) {
                for (int32_t j : chosen) {
                    c.values[static_cast<size_t>(i) * E + static_cast<size_t>(j)] += 1;
                }
            }
        }
    }
    return render_heatmap(c);
}

// Share of `experts` found in `among`.
double overlap(const std::vector<int32_t> & experts, const std::vector<int32_t> & among) {
    if (experts.empty()) {
        return 0.0;
    }
    size_t found = 0;
    for (int32_t e : experts) {
        found += std::find(among.begin(), among.end(), e) != among.end() ? 1 : 0;
    }
    return static_cast<double>(found) / static_cast<double>(experts.size());
}

std::string layer_overlap(const routing_trace & t, const std::string & source) {
    const trace_shape s = shape_of(t);
    if (s.layers.size() < 2) {
        fail("plot: layer-overlap needs two MoE layers; the trace has one");
    }
    bar_chart c;
    c.title = "Consecutive layers: share of a layer's experts whose ids the previous MoE layer chose";
    c.note  = fmt::format(
         "{}: {} tokens; expert ids of different layers are different weights, so this is "
          "id overlap, not prediction recall",
         source, t.tokens.size());
    c.x_label = "layer";
    c.y_label = "mean share of chosen experts";
    c.series  = {"overlap with the previous layer"};
    c.values.resize(1);
    for (size_t i = 1; i < s.layers.size(); ++i) {
        double  sum = 0;
        int64_t n   = 0;
        for (const trace_token & tok : t.tokens) {
            const trace_layer * prev = nullptr;
            const trace_layer * cur  = nullptr;
            for (const trace_layer & l : tok.layers) {
                prev = l.layer == s.layers[i - 1] ? &l : prev;
                cur  = l.layer == s.layers[i] ? &l : cur;
            }
            if (prev != nullptr && cur != nullptr && !cur->experts.empty()) {
                sum += overlap(cur->experts, prev->experts);
                ++n;
            }
        }
        c.categories.push_back(s.layers[i]);
        c.values[0].push_back(n > 0 ? sum / static_cast<double>(n) : 0.0);
    }
    return render_bars(c);
}

std::string recall(const routing_trace & t, const std::string & source) {
    const trace_shape s = shape_of(t);
    // Every predictor that left guesses, in name order.
    std::set<std::string> names;
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            for (const auto & [name, guess] : l.guess) {
                names.insert(name);
            }
        }
    }
    if (names.empty()) {
        fail("plot: the trace has no predictor guesses, so no recall; --kind layer-overlap plots what it has");
    }
    bar_chart c;
    c.title = "Cross-layer recall: share of a layer's chosen experts its predictors named one block earlier";
    c.note =
        fmt::format("{}: {} tokens; top k: the guess cut to as many experts as were chosen", source, t.tokens.size());
    c.x_label = "layer";
    c.y_label = "recall";
    c.stacked = false;
    for (const std::string & name : names) {
        c.series.push_back(name + ", top k");
        c.series.push_back(name + ", whole guess");
    }
    c.values.resize(c.series.size());
    for (int layer : s.layers) {
        std::vector<double>  sum(c.series.size(), 0.0);
        std::vector<int64_t> n(c.series.size(), 0);
        for (const trace_token & tok : t.tokens) {
            for (const trace_layer & l : tok.layers) {
                if (l.layer != layer || l.experts.empty()) {
                    continue;
                }
                size_t j = 0;
                for (const std::string & name : names) {
                    const auto it = l.guess.find(name);
                    if (it != l.guess.end()) {
                        const auto                 k = std::min(l.experts.size(), it->second.size());
                        const std::vector<int32_t> top(it->second.begin(),
                                                       it->second.begin() + static_cast<std::ptrdiff_t>(k));
                        sum[j] += overlap(l.experts, top);
                        sum[j + 1] += overlap(l.experts, it->second);
                        ++n[j];
                        ++n[j + 1];
                    }
                    j += 2;
                }
            }
        }
        if (std::all_of(n.begin(), n.end(), [](int64_t v) { return v == 0; })) {
            continue;  // the first MoE layer: nothing precedes it to guess from
        }
        c.categories.push_back(layer);
        for (size_t j = 0; j < sum.size(); ++j) {
            c.values[j].push_back(n[j] > 0 ? sum[j] / static_cast<double>(n[j]) : 0.0);
        }
    }
    return render_bars(c);
}

template <typename T>
T field(const nlohmann::json & j, const char * key, const char * what) {
    if (!j.is_object() || !j.contains(key)) {
        fail("plot: the {} has no \"{}\"", what, key);
    }
    try {
        return j.at(key).get<T>();
    } catch (const nlohmann::json::exception &) {
        fail("plot: the {}'s \"{}\" has the wrong type ({})", what, key, j.at(key).dump());
    }
}

// The array under `key`.
nlohmann::json array_field(const nlohmann::json & j, const char * key, const char * what) {
    nlohmann::json a = field<nlohmann::json>(j, key, what);
    if (!a.is_array()) {
        fail("plot: the {}'s \"{}\" is not an array", what, key);
    }
    return a;
}

}  // namespace

trace_plot parse_trace_plot(std::string_view name) {
    if (name == "heatmap") {
        return trace_plot::HEATMAP;
    }
    if (name == "coactivation") {
        return trace_plot::COACTIVATION;
    }
    if (name == "layer-overlap") {
        return trace_plot::LAYER_OVERLAP;
    }
    if (name == "recall") {
        return trace_plot::RECALL;
    }
    fail("plot: unknown --kind '{}' (heatmap, coactivation, layer-overlap, recall)", name);
}

std::string plot_trace(const routing_trace & t, trace_plot kind, int layer, const std::string & source) {
    switch (kind) {
        case trace_plot::HEATMAP:
            return heatmap(t, source);
        case trace_plot::COACTIVATION:
            return coactivation(t, layer, source);
        case trace_plot::LAYER_OVERLAP:
            return layer_overlap(t, source);
        case trace_plot::RECALL:
            return recall(t, source);
    }
    fail("plot: unknown trace plot");
}

std::string plot_profile(const nlohmann::json & p) {
    const char * what = "profile";
    if (field<std::string>(p, "format", what) != "sluice.profile.v1") {
        fail("plot: the profile's format is '{}', not sluice.profile.v1", p.at("format").get<std::string>());
    }
    const int n_expert = field<int>(p, "n_expert", what);
    if (n_expert <= 0 || n_expert > 65536) {
        fail("plot: the profile's n_expert {} is out of range", n_expert);
    }
    const auto    a = field<nlohmann::json>(p, "a", what), b = field<nlohmann::json>(p, "b", what);
    heatmap_chart c;
    c.title       = "Expert specificity: smoothed log-ratio of routing shares, A over B";
    c.note        = fmt::format("red: chosen more on A ({}, {} tokens); blue: more on B ({}, {} tokens); alpha {}",
                                field<std::string>(a, "file", "profile's a"), field<int64_t>(a, "tokens", "profile's a"),
                                field<std::string>(b, "file", "profile's b"), field<int64_t>(b, "tokens", "profile's b"),
                                field<double>(p, "alpha", what));
    c.x_label     = "expert";
    c.y_label     = "layer";
    c.value_label = "log-ratio";
    c.diverging   = true;
    for (int e = 0; e < n_expert; ++e) {
        c.col_ids.push_back(e);
    }
    for (const nlohmann::json & l : array_field(p, "layers", what)) {
        c.row_ids.push_back(field<int>(l, "layer", "profile's layer"));
        std::vector<double> row(static_cast<size_t>(n_expert), 0.0);
        for (const nlohmann::json & x : array_field(l, "experts", "profile's layer")) {
            const int e = field<int>(x, "expert", "profile's expert");
            if (e < 0 || e >= n_expert) {
                fail("plot: the profile's layer {} has expert {}, outside 0..{}", c.row_ids.back(), e, n_expert - 1);
            }
            row[static_cast<size_t>(e)] = field<double>(x, "log_ratio", "profile's expert");
        }
        c.values.insert(c.values.end(), row.begin(), row.end());
    }
    if (c.row_ids.empty()) {
        fail("plot: the profile has no layers");
    }
    return render_heatmap(c);
}

std::string plot_stats(const nlohmann::json & st) {
    const char * what = "stats file";
    bar_chart    c;
    c.title   = "Expert cache per layer: hits, late prefetches, misses";
    c.note    = fmt::format("{} tokens, predictor {}, eviction {}; totals of the run (the file has no time series)",
                            field<int64_t>(st, "tokens", what), field<std::string>(st, "predictor", what),
                            field<std::string>(st, "eviction", what));
    c.x_label = "layer";
    c.y_label = "expert requests";
    c.series  = {"hits", "late", "misses"};
    c.values.resize(3);
    for (const nlohmann::json & l : array_field(st, "layers", what)) {
        c.categories.push_back(field<int>(l, "layer", "stats file's layer"));
        c.values[0].push_back(field<double>(l, "hits", "stats file's layer"));
        c.values[1].push_back(field<double>(l, "late", "stats file's layer"));
        c.values[2].push_back(field<double>(l, "misses", "stats file's layer"));
    }
    if (c.categories.empty()) {
        fail("plot: the stats file has no layers");
    }
    return render_bars(c);
}

}  // namespace sluice
