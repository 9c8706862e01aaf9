#include "experts/trace.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <fstream>

namespace sluice {

const std::vector<int32_t> * routing_trace::experts_at(int64_t pos, int layer) const {
    if (pos < 0 || pos >= static_cast<int64_t>(tokens.size()) || tokens[pos].pos != pos) {
        return nullptr;
    }
    for (const trace_layer & l : tokens[pos].layers) {
        if (l.layer == layer) {
            return &l.experts;
        }
    }
    return nullptr;
}

routing_trace routing_trace::load(const std::string & path) {
    std::ifstream in(path);
    if (!in) {
        fail("{}: cannot open the trace", path);
    }
    routing_trace t;
    std::string   line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
        if (line.empty()) {
            continue;
        }
        try {
            const auto  j = nlohmann::json::parse(line);
            trace_token tok;
            tok.pos   = j.at("pos").get<int64_t>();
            tok.token = j.value("token", -1);
            for (const auto & jl : j.at("layers")) {
                trace_layer l;
                l.layer   = jl.at("layer").get<int>();
                l.experts = jl.at("experts").get<std::vector<int32_t>>();
                l.weights = jl.value("weights", std::vector<float>{});
                if (jl.contains("guess")) {
                    l.guess = jl.at("guess").get<std::map<std::string, std::vector<int32_t>>>();
                }
                tok.layers.push_back(std::move(l));
            }
            t.tokens.push_back(std::move(tok));
        } catch (const nlohmann::json::exception & e) {
            fail("{}:{}: not a trace line: {}", path, n, e.what());
        }
    }
    return t;
}

std::string to_json_line(const trace_token & t) {
    nlohmann::json j;
    j["pos"]    = t.pos;
    j["token"]  = t.token;
    auto layers = nlohmann::json::array();
    for (const trace_layer & l : t.layers) {
        nlohmann::json jl;
        jl["layer"]   = l.layer;
        jl["experts"] = l.experts;
        jl["weights"] = l.weights;
        if (!l.guess.empty()) {
            jl["guess"] = l.guess;
        }
        layers.push_back(std::move(jl));
    }
    j["layers"] = std::move(layers);
    return j.dump();
}

}  // namespace sluice
