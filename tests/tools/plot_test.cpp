// The plots are valid XML and encode the data: each test writes its own routing (a random
// trace, a profile, stats), counts what the plot should show by itself, and reads the
// numbers back from the cells' and bars' data-* attributes.
#include "tools/plot.h"

#include "tools/svg.h"
#include "util/error.h"
#include "xml_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

namespace sluice {
namespace {

using test::parse_xml;
using test::xml_element;

// A random trace: `n` tokens, MoE layers {1, 2, 4}, k distinct experts of `E` per layer, and a
// cross-layer guess of 2k experts for every layer after the first.
routing_trace random_trace(int n, int E, int k, uint32_t seed) {
    std::mt19937  rng(seed);
    routing_trace t;
    for (int p = 0; p < n; ++p) {
        trace_token tok;
        tok.pos   = p;
        tok.token = p % 50;
        for (int layer : {1, 2, 4}) {
            trace_layer l;
            l.layer = layer;
            std::vector<int32_t> perm(static_cast<size_t>(E));
            for (int e = 0; e < E; ++e) {
                perm[static_cast<size_t>(e)] = e;
            }
            std::shuffle(perm.begin(), perm.end(), rng);
            l.experts.assign(perm.begin(), perm.begin() + k);
            l.weights.assign(static_cast<size_t>(k), 1.0f / static_cast<float>(k));
            if (layer != 1) {
                std::shuffle(perm.begin(), perm.end(), rng);
                l.guess["cross-layer"].assign(perm.begin(), perm.begin() + 2 * k);
            }
            tok.layers.push_back(std::move(l));
        }
        t.tokens.push_back(std::move(tok));
    }
    return t;
}

// Elements that carry `attr`.
std::vector<xml_element> with_attr(const std::vector<xml_element> & els, const std::string & attr) {
    std::vector<xml_element> out;
    for (const xml_element & e : els) {
        if (e.attrs.count(attr) != 0) {
            out.push_back(e);
        }
    }
    return out;
}

// Self-contained: an <svg> root in the SVG namespace, no scripts, no links, no external refs.
void expect_self_contained(const std::string & svg, const std::vector<xml_element> & els) {
    ASSERT_FALSE(els.empty());
    EXPECT_EQ(els.front().name, "svg");
    EXPECT_EQ(els.front().attrs.at("xmlns"), "http://www.w3.org/2000/svg");
    for (const xml_element & e : els) {
        EXPECT_NE(e.name, "script");
        EXPECT_NE(e.name, "image");
        EXPECT_NE(e.name, "a");
        for (const auto & [k, v] : e.attrs) {
            EXPECT_EQ(k.find("href"), std::string::npos) << e.name;
            EXPECT_EQ(k.rfind("on", 0), std::string::npos) << e.name << " " << k;  // event handlers
        }
    }
    EXPECT_EQ(svg.find("<script"), std::string::npos);
    EXPECT_EQ(svg.find("url("), std::string::npos);
    // A title, axis labels and a colour or series legend.
    EXPECT_GE(std::count_if(els.begin(), els.end(), [](const xml_element & e) { return e.name == "text"; }), 4);
    EXPECT_FALSE(with_attr(els, "class").empty());
}

TEST(plot, heatmap_cells_are_the_counts_of_the_trace) {
    const routing_trace t   = random_trace(200, 8, 2, 1);
    const std::string   svg = plot_trace(t, trace_plot::HEATMAP, -1, "t.jsonl");
    const auto          els = parse_xml(svg);
    expect_self_contained(svg, els);

    std::map<std::pair<int, int>, int> want;
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            for (int32_t e : l.experts) {
                want[{l.layer, e}] += 1;
            }
        }
    }
    const auto cells = with_attr(els, "data-expert");
    ASSERT_EQ(cells.size(), 3u * 8u);  // layers 1, 2, 4 only: no row for the missing layers
    std::set<int> layers;
    for (const xml_element & c : cells) {
        const int layer  = std::stoi(c.attrs.at("data-layer"));
        const int expert = std::stoi(c.attrs.at("data-expert"));
        layers.insert(layer);
        EXPECT_EQ(std::stod(c.attrs.at("data-value")), (want[{layer, expert}])) << layer << ":" << expert;
    }
    EXPECT_EQ(layers, (std::set<int>{1, 2, 4}));
}

TEST(plot, coactivation_counts_pairs_chosen_together) {
    const routing_trace t     = random_trace(300, 6, 3, 2);
    const auto          els   = parse_xml(plot_trace(t, trace_plot::COACTIVATION, 2, "t.jsonl"));
    const auto          cells = with_attr(els, "data-i");
    ASSERT_EQ(cells.size(), 36u);
    std::map<std::pair<int, int>, int> want;
    for (const trace_token & tok : t.tokens) {
        for (const trace_layer & l : tok.layers) {
            if (l.layer == 2) {
                for (int32_t i : l.experts) {
                    for (int32_t j : l.experts) {
                        want[{i, j}] += 1;
                    }
                }
            }
        }
    }
    for (const xml_element & c : cells) {
        const int i = std::stoi(c.attrs.at("data-i")), j = std::stoi(c.attrs.at("data-j"));
        EXPECT_EQ(std::stod(c.attrs.at("data-value")), (want[{i, j}])) << i << "," << j;
        if (i == j) {
            EXPECT_EQ(c.attrs.at("fill"), "#bbbbbb");  // the diagonal is outside the scale
        }
    }
    EXPECT_THROW(plot_trace(t, trace_plot::COACTIVATION, 3, "t.jsonl"), error);  // not a MoE layer
}

TEST(plot, layer_overlap_and_recall_are_the_shares_of_the_trace) {
    const routing_trace t     = random_trace(100, 8, 2, 3);
    const auto          share = [&](int layer, auto && among) {  // mean share of layer's experts found in among(token)
        double sum = 0;
        for (const trace_token & tok : t.tokens) {
                     const trace_layer *  cur = nullptr;
                     std::vector<int32_t> other;
                     for (const trace_layer & l : tok.layers) {
                         if (l.layer == layer) {
                             cur = &l;
                }
            }
                     other   = among(tok, *cur);
                     int hit = 0;
                     for (int32_t e : cur->experts) {
                         hit += std::find(other.begin(), other.end(), e) != other.end();
            }
                     sum += hit / 2.0;
        }
        return sum / static_cast<double>(t.tokens.size());
    };
    const auto prev_layer = [](int layer) { return layer == 2 ? 1 : 2; };

    const auto overlap = with_attr(parse_xml(plot_trace(t, trace_plot::LAYER_OVERLAP, -1, "t")), "data-series");
    ASSERT_EQ(overlap.size(), 2u);  // layers 2 and 4 have a previous MoE layer
    for (const xml_element & b : overlap) {
        const int    layer = std::stoi(b.attrs.at("data-layer"));
        const double want  = share(layer, [&](const trace_token & tok, const trace_layer &) {
            for (const trace_layer & l : tok.layers) {
                if (l.layer == prev_layer(layer)) {
                    return l.experts;
                }
            }
            return std::vector<int32_t>{};
        });
        EXPECT_NEAR(std::stod(b.attrs.at("data-value")), want, 1e-12) << layer;
    }

    const auto recall = with_attr(parse_xml(plot_trace(t, trace_plot::RECALL, -1, "t")), "data-series");
    ASSERT_EQ(recall.size(), 4u);  // layers 2 and 4, top k and whole guess
    for (const xml_element & b : recall) {
        const int    layer = std::stoi(b.attrs.at("data-layer"));
        const bool   whole = b.attrs.at("data-series") == "cross-layer, whole guess";
        const double want  = share(layer, [&](const trace_token &, const trace_layer & l) {
            const std::vector<int32_t> & g = l.guess.at("cross-layer");
            return whole ? g : std::vector<int32_t>(g.begin(), g.begin() + 2);
        });
        EXPECT_NEAR(std::stod(b.attrs.at("data-value")), want, 1e-12) << layer << " " << whole;
    }

    routing_trace bare = t;  // a trace without guesses has no recall, and says what to use
    for (trace_token & tok : bare.tokens) {
        for (trace_layer & l : tok.layers) {
            l.guess.clear();
        }
    }
    try {
        plot_trace(bare, trace_plot::RECALL, -1, "t");
        FAIL() << "no error";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("layer-overlap"), std::string::npos) << e.what();
    }
}

TEST(plot, profile_cells_are_the_log_ratios) {
    nlohmann::json p = {{"format", "sluice.profile.v1"},
                        {"alpha", 0.5},
                        {"n_layer", 3},
                        {"n_expert", 2},
                        {"a", {{"file", "a<&>.txt"}, {"tokens", 10}}},
                        {"b", {{"file", "b.txt"}, {"tokens", 12}}}};
    p["layers"]      = {
             {{"layer", 1}, {"experts", {{{"expert", 0}, {"log_ratio", 1.25}}, {{"expert", 1}, {"log_ratio", -0.5}}}}},
             {{"layer", 2}, {"experts", {{{"expert", 0}, {"log_ratio", 0.0}}, {{"expert", 1}, {"log_ratio", 3.0}}}}}};
    const std::string svg = plot_profile(p);
    const auto        els = parse_xml(svg);  // the file name's <&> is escaped
    expect_self_contained(svg, els);
    std::map<std::pair<int, int>, double> got;
    for (const xml_element & c : with_attr(els, "data-expert")) {
        got[{std::stoi(c.attrs.at("data-layer")), std::stoi(c.attrs.at("data-expert"))}] =
            std::stod(c.attrs.at("data-value"));
    }
    EXPECT_EQ(got,
              (std::map<std::pair<int, int>, double>{{{1, 0}, 1.25}, {{1, 1}, -0.5}, {{2, 0}, 0.0}, {{2, 1}, 3.0}}));

    nlohmann::json bad = p;
    bad["format"]      = "something.else";
    EXPECT_THROW(plot_profile(bad), error);
    bad                                      = p;
    bad["layers"][0]["experts"][0]["expert"] = 7;  // outside n_expert
    EXPECT_THROW(plot_profile(bad), error);
    EXPECT_THROW(plot_profile(nlohmann::json::array()), error);
}

TEST(plot, stats_bars_are_hits_late_and_misses_per_layer) {
    const nlohmann::json st  = {{"tokens", 5},
                                {"predictor", "cross-layer"},
                                {"eviction", "lru"},
                                {"layers",
                                 {{{"layer", 0}, {"hits", 7}, {"late", 1}, {"misses", 2}},
                                  {{"layer", 3}, {"hits", 4}, {"late", 0}, {"misses", 6}}}}};
    const std::string    svg = plot_stats(st);
    const auto           els = parse_xml(svg);
    expect_self_contained(svg, els);
    std::map<std::pair<int, std::string>, double> got;
    for (const xml_element & b : with_attr(els, "data-series")) {
        got[{std::stoi(b.attrs.at("data-layer")), b.attrs.at("data-series")}] = std::stod(b.attrs.at("data-value"));
    }
    EXPECT_EQ(got, (std::map<std::pair<int, std::string>, double>{{{0, "hits"}, 7},
                                                                  {{0, "late"}, 1},
                                                                  {{0, "misses"}, 2},
                                                                  {{3, "hits"}, 4},
                                                                  {{3, "late"}, 0},
                                                                  {{3, "misses"}, 6}}));
    EXPECT_THROW(plot_stats(nlohmann::json{{"tokens", 5}}), error);
}

TEST(plot, unknown_kind_names_the_known_ones) {
    try {
        parse_trace_plot("pie");
        FAIL() << "no error";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("coactivation"), std::string::npos);
    }
    EXPECT_THROW(plot_trace(routing_trace{}, trace_plot::HEATMAP, -1, "empty"), error);
}

TEST(plot, the_xml_check_rejects_broken_documents) {  // so that passing it means something
    EXPECT_THROW(parse_xml("<svg><rect></svg>"), std::runtime_error);
    EXPECT_THROW(parse_xml("<svg a=\"1\" a=\"2\"/>"), std::runtime_error);
    EXPECT_THROW(parse_xml("<svg>&nbsp;</svg>"), std::runtime_error);
    EXPECT_THROW(parse_xml("<svg x=1/>"), std::runtime_error);
    EXPECT_THROW(parse_xml("<svg/><svg/>"), std::runtime_error);
    EXPECT_NO_THROW(parse_xml("<?xml version=\"1.0\"?>\n<svg><g a='&lt;'>t &amp; u</g></svg>\n"));
}

}  // namespace
}  // namespace sluice
