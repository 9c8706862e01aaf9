#include "experts/streaming_stats.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace sluice {

layer_stream_stats stream_stats::total() const {
    layer_stream_stats t;
    for (const layer_stream_stats & l : layers) {
        t.requests += l.requests;
        t.hits += l.hits;
        t.late += l.late;
        t.misses += l.misses;
        t.predicted += l.predicted;
        t.predicted_used += l.predicted_used;
        t.foreseen += l.foreseen;
        t.reads += l.reads;
        t.prefetches += l.prefetches;
        t.bytes_read += l.bytes_read;
        t.wasted_reads += l.wasted_reads;
        t.wasted_bytes += l.wasted_bytes;
        t.shadow_reads += l.shadow_reads;
        t.shadow_uses += l.shadow_uses;
        t.upgrades += l.upgrades;
        t.io_wait_ms += l.io_wait_ms;
    }
    return t;
}

std::string format_stream_stats(const stream_stats & s) {
    const double tokens = s.tokens > 0 ? double(s.tokens) : 1.0;
    std::string  out    = fmt::format(
            "expert streaming: reader {}{}, predictor {}, eviction {}, quota {}, experts {}, budget {:.1f} MiB ({:.1f} MiB "
                "used), {} tokens\n",
            s.reader, s.direct ? " (O_DIRECT)" : " (page cache dropped)", s.predictor, s.eviction, s.quota, s.cache_type,
            double(s.budget) / 1048576.0, double(s.cache_bytes) / 1048576.0, s.tokens);
    out += fmt::format("{:>5} {:>5} {:>8} {:>6} {:>6} {:>7} {:>9} {:>10} {:>10} {:>9}\n", "layer", "slots", "requests",
                       "hit%", "late%", "recall", "precision", "MiB read", "MiB wasted", "wait ms");
    const auto row = [&](const std::string & name, int slots, const layer_stream_stats & l) {
        const double req = l.requests ? double(l.requests) : 1.0;
        out += fmt::format("{:>5} {:>5} {:>8} {:>6.1f} {:>6.1f} {:>7.3f} {:>9.3f} {:>10.1f} {:>10.1f} {:>9.1f}\n", name,
                           slots, l.requests, 100.0 * double(l.hits) / req, 100.0 * double(l.late) / req, l.recall(),
                           l.precision(), double(l.bytes_read) / 1048576.0, double(l.wasted_bytes) / 1048576.0,
                           l.io_wait_ms);
    };
    int total_slots = 0;
    for (size_t l = 0; l < s.layers.size(); ++l) {
        if (s.slots[l] == 0) {
            continue;
        }
        total_slots += s.slots[l];
        row(std::to_string(l), s.slots[l], s.layers[l]);
    }
    const layer_stream_stats t = s.total();
    row("all", total_slots, t);
    out += fmt::format("per token: {:.2f} MiB read, {:.2f} ms waiting for reads, {:.3f} ms predicting\n",
                       double(t.bytes_read) / 1048576.0 / tokens, t.io_wait_ms / tokens, s.predict_ms / tokens);
    if (s.packed_experts > 0) {
        out += fmt::format(
            "packed in their slots: {} experts ({} reads), {:.3f} ms per token packing; {} of them while waiting "
            "for reads, {:.3f} ms per token ({} finished when asked for, {} dropped half packed)\n",
            s.packed_experts, t.reads, s.pack_ms / tokens, s.packed_waiting, s.pack_waiting_ms / tokens,
            s.packed_waiting_finished, s.packed_waiting_dropped);
    }
    if (t.shadow_reads > 0 || s.shadow != "none") {
        out += fmt::format(
            "shadow {}: {} of {} reads from the shadow, {} shadow copies read again exact, {:.1f}% of "
            "requests served by a shadow copy (lossy)\n",
            s.shadow, t.shadow_reads, t.reads, t.upgrades,
            t.requests ? 100.0 * double(t.shadow_uses) / double(t.requests) : 0.0);
    }
    return out;
}

std::string stream_stats_json(const stream_stats & s) {
    nlohmann::json j;
    j["reader"]                  = s.reader;
    j["direct"]                  = s.direct;
    j["predictor"]               = s.predictor;
    j["eviction"]                = s.eviction;
    j["quota"]                   = s.quota;
    j["cache_type"]              = s.cache_type;
    j["shadow"]                  = s.shadow;
    j["budget"]                  = s.budget;
    j["cache_bytes"]             = s.cache_bytes;
    j["tokens"]                  = s.tokens;
    j["predict_ms"]              = s.predict_ms;
    j["pack_ms"]                 = s.pack_ms;
    j["packed_experts"]          = s.packed_experts;
    j["pack_waiting_ms"]         = s.pack_waiting_ms;
    j["packed_waiting"]          = s.packed_waiting;
    j["packed_waiting_finished"] = s.packed_waiting_finished;
    j["packed_waiting_dropped"]  = s.packed_waiting_dropped;
    const auto layer             = [](const layer_stream_stats & l) {
        return nlohmann::json{{"requests", l.requests},
                              {"hits", l.hits},
                              {"late", l.late},
                              {"misses", l.misses},
                              {"predicted", l.predicted},
                              {"predicted_used", l.predicted_used},
                              {"foreseen", l.foreseen},
                              {"reads", l.reads},
                              {"prefetches", l.prefetches},
                              {"bytes_read", l.bytes_read},
                              {"wasted_reads", l.wasted_reads},
                              {"wasted_bytes", l.wasted_bytes},
                              {"shadow_reads", l.shadow_reads},
                              {"shadow_uses", l.shadow_uses},
                              {"upgrades", l.upgrades},
                              {"io_wait_ms", l.io_wait_ms},
                              {"hit_rate", l.hit_rate()},
                              {"recall", l.recall()},
                              {"precision", l.precision()}};
    };
    auto layers = nlohmann::json::array();
    for (size_t l = 0; l < s.layers.size(); ++l) {
        if (s.slots[l] == 0) {
            continue;
        }
        auto jl     = layer(s.layers[l]);
        jl["layer"] = l;
        jl["slots"] = s.slots[l];
        layers.push_back(std::move(jl));
    }
    j["layers"] = std::move(layers);
    j["total"]  = layer(s.total());
    return j.dump(2);
}

}  // namespace sluice
