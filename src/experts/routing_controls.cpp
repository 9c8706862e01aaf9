#include "experts/routing_controls.h"

#include "util/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

namespace sluice {
namespace {

constexpr uint64_t max_json_bytes = 1 << 20;  // a steering or calibration file

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return std::string(s);
}

int parse_int(const std::string & s, const char * flag, const std::string & term) {
    int v              = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
        fail("{}: '{}' in '{}' is not a number", flag, s, term);
    }
    return v;
}

// "a", "a-b" or "*" -> [lo, hi] within [0, n); throws naming `what` when out of range.
std::pair<int, int> parse_range(const std::string & s, int n, const char * flag, const char * what,
                                const std::string & term) {
    if (s == "*") {
        return {0, n - 1};
    }
    const size_t dash = s.find('-', 1);
    const int    lo   = parse_int(trim(s.substr(0, dash)), flag, term);
    const int    hi   = dash == std::string::npos ? lo : parse_int(trim(s.substr(dash + 1)), flag, term);
    if (lo < 0 || hi >= n || lo > hi) {
        fail("{}: {} {} in '{}' is out of range (the model has {} {}s, 0..{})", flag, what, s, term, n, what, n - 1);
    }
    return {lo, hi};
}

std::string read_bounded(const std::string & path, const char * flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fail("{}: cannot open '{}'", flag, path);
    }
    std::string text;
    text.resize(max_json_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > max_json_bytes) {
        fail("{}: '{}' is larger than {} bytes", flag, path, max_json_bytes);
    }
    return text;
}

nlohmann::json parse_json(const std::string & path, const char * flag) {
    const std::string text = read_bounded(path, flag);
    // Depth before recursion: nlohmann's parser recurses per nesting level.
    int depth = 0;
    for (char c : text) {
        depth += (c == '[' || c == '{') ? 1 : (c == ']' || c == '}') ? -1 : 0;
        if (depth > 64) {
            fail("{}: '{}' nests deeper than 64 levels", flag, path);
        }
    }
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception & e) {
        fail("{}: '{}' is not valid JSON: {}", flag, path, e.what());
    }
}

}  // namespace

bool routing_controls::active() const {
    if (top_k > 0 || top_p > 0.0f || skip_threshold > 0.0f || prefer_cached > 0.0f) {
        return true;
    }
    return std::any_of(layers.begin(), layers.end(), [](const layer_routing_controls & l) { return !l.empty(); });
}

int routing_controls::max_experts(int n_expert, int k) const {
    // make_routing_controls keeps the forced experts of a layer within this count.
    const int m = top_p > 0.0f ? (max_k > 0 ? max_k : n_expert) : top_k > 0 ? top_k : k;
    return std::min(n_expert, m);
}

std::string routing_controls::describe() const {
    std::vector<std::string> parts;
    if (top_k > 0) {
        parts.push_back(fmt::format("top-k {}", top_k));
    }
    if (top_p > 0.0f) {
        parts.push_back(fmt::format("top-p {:g} (k {}..{})", top_p, min_k, max_k));
    }
    if (skip_threshold > 0.0f) {
        parts.push_back(fmt::format("skip below {:g}", skip_threshold));
    }
    if (prefer_cached > 0.0f) {
        parts.push_back(fmt::format("prefer cached within {:g}", prefer_cached));
    }
    size_t masked = 0, forced = 0, steered = 0;
    for (const layer_routing_controls & l : layers) {
        masked += static_cast<size_t>(std::count(l.masked.begin(), l.masked.end(), uint8_t{1}));
        forced += static_cast<size_t>(
            std::count_if(l.force_weight.begin(), l.force_weight.end(), [](float w) { return !std::isnan(w); }));
        steered += static_cast<size_t>(
            std::count_if(l.logit_offset.begin(), l.logit_offset.end(), [](float o) { return o != 0.0f; }));
    }
    if (masked > 0) {
        parts.push_back(fmt::format("{} experts masked", masked));
    }
    if (forced > 0) {
        parts.push_back(fmt::format("{} forced", forced));
    }
    if (steered > 0) {
        parts.push_back(fmt::format("{} steered", steered));
    }
    std::string out;
    for (const std::string & p : parts) {
        out += (out.empty() ? "" : ", ") + p;
    }
    return out;
}

std::vector<expert_ref> parse_expert_spec(const std::string & spec, const char * flag, int n_layer, int n_expert,
                                          bool allow_weight) {
    if (spec.size() > max_json_bytes) {
        fail("{}: the spec is longer than {} bytes", flag, max_json_bytes);
    }
    std::vector<expert_ref> out;
    std::pair<int, int>     layers{-1, -1};
    std::stringstream       in(spec);
    std::string             item;
    while (std::getline(in, item, ',')) {
        const std::string term = trim(item);
        if (term.empty()) {
            fail("{}: empty term in '{}' (expected layer:expert,...)", flag, spec);
        }
        std::string  experts = term;
        const size_t colon   = term.find(':');
        if (colon != std::string::npos) {
            layers  = parse_range(trim(term.substr(0, colon)), n_layer, flag, "layer", term);
            experts = trim(term.substr(colon + 1));
        } else if (layers.first < 0) {
            fail("{}: '{}' names no layer (expected layer:expert, e.g. 3:17 or *:2)", flag, term);
        }
        float        weight = -1.0f;
        const size_t eq     = experts.find('=');
        if (eq != std::string::npos) {
            if (!allow_weight) {
                fail("{}: '{}': only --expert-force takes =weight", flag, term);
            }
            const std::string w = trim(experts.substr(eq + 1));
            try {
                size_t used = 0;
                weight      = std::stof(w, &used);
                if (used != w.size() || !std::isfinite(weight) || weight < 0.0f) {
                    throw std::invalid_argument(w);
                }
            } catch (const std::exception &) {
                fail("{}: weight '{}' in '{}' is not a finite number >= 0", flag, w, term);
            }
            experts = trim(experts.substr(0, eq));
        }
        const auto [e0, e1] = parse_range(experts, n_expert, flag, "expert", term);
        for (int l = layers.first; l <= layers.second; ++l) {
            for (int e = e0; e <= e1; ++e) {
                out.push_back({l, e, weight});
            }
        }
    }
    if (out.empty()) {
        fail("{}: no experts in '{}'", flag, spec);
    }
    return out;
}

steer_file read_steer_file(const std::string & path, int n_layer, int n_expert, const char * flag) {
    const nlohmann::json j = parse_json(path, flag);
    if (!j.is_object()) {
        fail("{}: '{}' must be a JSON object with \"steer\", \"mask\" or \"force\"", flag, path);
    }
    steer_file out;
    try {
        if (j.contains("steer")) {
            const nlohmann::json & s = j.at("steer");
            if (!s.is_array()) {
                fail("{}: '{}': \"steer\" must be an array of {{layer, expert, offset}}", flag, path);
            }
            for (const nlohmann::json & o : s) {
                if (!o.is_object() || !o.contains("layer") || !o.contains("expert") || !o.contains("offset") ||
                    !o.at("layer").is_number_integer() || !o.at("expert").is_number_integer() ||
                    !o.at("offset").is_number()) {
                    fail("{}: '{}': each \"steer\" entry needs integer layer and expert and a number offset", flag,
                         path);
                }
                const int64_t l = o.at("layer").get<int64_t>(), e = o.at("expert").get<int64_t>();
                const double  off = o.at("offset").get<double>();
                if (l < 0 || l >= n_layer || e < 0 || e >= n_expert) {
                    fail("{}: '{}': layer {} expert {} is out of range ({} layers, {} experts)", flag, path, l, e,
                         n_layer, n_expert);
                }
                if (!std::isfinite(off) || std::abs(off) > 1e4) {
                    fail("{}: '{}': offset {} of layer {} expert {} is not a finite number within +-1e4", flag, path,
                         off, l, e);
                }
                out.steer.push_back({static_cast<int>(l), static_cast<int>(e), static_cast<float>(off)});
            }
        }
        for (const char * key : {"mask", "force"}) {
            if (j.contains(key)) {
                if (!j.at(key).is_string()) {
                    fail("{}: '{}': \"{}\" must be a SPEC string like \"3:17,5:2\"", flag, path, key);
                }
                (std::string(key) == "mask" ? out.mask : out.force) = j.at(key).get<std::string>();
            }
        }
    } catch (const nlohmann::json::exception & e) {
        fail("{}: '{}': {}", flag, path, e.what());
    }
    return out;
}

routing_controls make_routing_controls(const routing_request & req_in, int n_layer, int n_expert, int k,
                                       const std::vector<bool> & moe_layer) {
    const routing_request & r0 = req_in;
    routing_controls        c;
    if (r0.top_k < 0 || r0.top_k > n_expert) {
        fail("--moe-top-k {}: must be between 1 and the model's {} experts", r0.top_k, n_expert);
    }
    c.top_k = r0.top_k;
    if (r0.top_p != 0.0f && !(r0.top_p > 0.0f && r0.top_p <= 1.0f)) {
        fail("--moe-top-p {}: must be in (0, 1]", r0.top_p);
    }
    if ((r0.min_k != 0 || r0.max_k != 0) && r0.top_p == 0.0f) {
        fail("--moe-min-k and --moe-max-k bound --moe-top-p; give --moe-top-p too");
    }
    if (r0.top_p > 0.0f && r0.top_k > 0) {
        fail("--moe-top-k and --moe-top-p both set the expert count; give one");
    }
    c.top_p = r0.top_p;
    c.min_k = r0.min_k > 0 ? r0.min_k : 1;
    c.max_k = r0.max_k > 0 ? r0.max_k : n_expert;
    if (r0.min_k < 0 || r0.max_k < 0 || c.min_k > n_expert || c.max_k > n_expert || c.min_k > c.max_k) {
        fail("--moe-min-k {} / --moe-max-k {}: need 1 <= min <= max <= {} (the model's experts)", c.min_k, c.max_k,
             n_expert);
    }
    if (!(r0.skip >= 0.0f) || !std::isfinite(r0.skip)) {
        fail("--moe-skip {}: must be a finite number >= 0", r0.skip);
    }
    c.skip_threshold = r0.skip;
    if (!(r0.prefer_cached >= 0.0f && r0.prefer_cached <= 1.0f)) {
        fail("--moe-prefer-cached {}: must be a router-score margin in [0, 1]", r0.prefer_cached);
    }
    c.prefer_cached = r0.prefer_cached;
    if (!r0.skip_calibration.empty()) {
        if (r0.skip == 0.0f) {
            fail("--moe-skip-calibration scales --moe-skip's threshold; give --moe-skip too");
        }
        const nlohmann::json j = parse_json(r0.skip_calibration, "--moe-skip-calibration");
        if (!j.is_object() || !j.contains("layer_importance") || !j.at("layer_importance").is_array() ||
            j.at("layer_importance").size() != static_cast<size_t>(n_layer)) {
            fail("--moe-skip-calibration: '{}' needs \"layer_importance\": an array of {} numbers (one per layer)",
                 r0.skip_calibration, n_layer);
        }
        for (const nlohmann::json & v : j.at("layer_importance")) {
            if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0.0) {
                fail("--moe-skip-calibration: '{}': every layer_importance must be a finite number >= 0",
                     r0.skip_calibration);
            }
            c.layer_importance.push_back(v.get<float>());
        }
    }

    // A steering file may also carry a mask and forced experts: they apply unless the request
    // gives its own.
    routing_request req = req_in;
    steer_file      steer;
    if (!req.steer.empty()) {
        steer = read_steer_file(req.steer, n_layer, n_expert);
        if (req.mask.empty()) {
            req.mask = steer.mask;
        }
        if (req.force.empty()) {
            req.force = steer.force;
        }
    }
    auto layer_at = [&](int l) -> layer_routing_controls & {
        if (!moe_layer[l]) {
            fail("layer {} has no routed experts (a dense layer); routing controls apply to MoE layers", l);
        }
        if (c.layers.size() < static_cast<size_t>(n_layer)) {
            c.layers.resize(n_layer);
        }
        return c.layers[l];
    };
    auto spec_or_file = [&](const std::string & v, const char * flag, bool is_mask) {
        if (v.empty() || v[0] != '@') {
            return v;
        }
        const steer_file    f = read_steer_file(v.substr(1), n_layer, n_expert, flag);
        const std::string & s = is_mask ? f.mask : f.force;
        if (s.empty()) {
            fail("{}: '{}' has no \"{}\"", flag, v.substr(1), is_mask ? "mask" : "force");
        }
        return s;
    };
    // A "*" layer range covers dense layers too: wildcards skip them, explicit layers must route.
    const bool mask_wild = req.mask.find('*') != std::string::npos;
    if (!req.mask.empty()) {
        for (const expert_ref & r : parse_expert_spec(spec_or_file(req.mask, "--expert-mask", true), "--expert-mask",
                                                      n_layer, n_expert, false)) {
            if (mask_wild && !moe_layer[r.layer]) {
                continue;
            }
            layer_routing_controls & l = layer_at(r.layer);
            l.masked.resize(n_expert);
            l.masked[r.expert] = 1;
        }
    }
    const bool force_wild = req.force.find('*') != std::string::npos;
    if (!req.force.empty()) {
        for (const expert_ref & r : parse_expert_spec(spec_or_file(req.force, "--expert-force", false),
                                                      "--expert-force", n_layer, n_expert, true)) {
            if (force_wild && !moe_layer[r.layer]) {
                continue;
            }
            layer_routing_controls & l = layer_at(r.layer);
            if (l.is_masked(r.expert)) {
                fail("--expert-force: layer {} expert {} is also masked by --expert-mask", r.layer, r.expert);
            }
            l.force_weight.resize(n_expert, std::numeric_limits<float>::quiet_NaN());
            l.force_weight[r.expert] = r.weight;
        }
    }
    std::vector<expert_ref> offsets = req.steer_offsets;
    offsets.insert(offsets.end(), steer.steer.begin(), steer.steer.end());
    for (const expert_ref & r : offsets) {
        if (r.layer < 0 || r.layer >= n_layer || r.expert < 0 || r.expert >= n_expert || !std::isfinite(r.weight)) {
            fail("--expert-steer: layer {} expert {} offset {} is out of range ({} layers, {} experts)", r.layer,
                 r.expert, r.weight, n_layer, n_expert);
        }
        layer_routing_controls & l = layer_at(r.layer);
        l.logit_offset.resize(n_expert);
        l.logit_offset[r.expert] += r.weight;
    }
    // Every routed layer keeps at least one expert.
    for (size_t l = 0; l < c.layers.size(); ++l) {
        const auto & m = c.layers[l].masked;
        if (!m.empty() && std::count(m.begin(), m.end(), uint8_t{1}) >= n_expert) {
            fail("--expert-mask leaves layer {} without experts (all {} masked)", l, n_expert);
        }
        const auto & f        = c.layers[l].force_weight;
        const auto   n_forced = std::count_if(f.begin(), f.end(), [](float w) { return !std::isnan(w); });
        if (n_forced > std::max(c.top_k > 0 ? c.top_k : k, c.top_p > 0.0f ? c.max_k : 0)) {
            fail("--expert-force forces {} experts in layer {}, more than the {} a token uses", n_forced, l,
                 c.top_k > 0 ? c.top_k : k);
        }
    }
    return c;
}

}  // namespace sluice
