// `sluice logits -m M --ids 1,2,3 [--top K] [--json] [--all]`: the logits at every position
// and the routing of every MoE layer (expert ids and weights), for tests and debugging.

#include "cli_common.h"
#include "cli_parallel.h"
#include "cli_routing.h"
#include "commands.h"
#include "engine/routing_recorder.h"
#include "util/error.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

namespace sluice::cli {
namespace {

struct logits_options {
    model_flags     model;
    parallel_flags  parallel;
    routing_request routing;
    std::string     ids;
    int             top  = 10;
    bool            json = false;
    bool            all  = false;
};

std::vector<int32_t> top_ids(const float * l, int64_t n_vocab, int k) {
    std::vector<int32_t> idx(n_vocab);
    std::iota(idx.begin(), idx.end(), 0);
    k = std::min<int>(k, static_cast<int>(n_vocab));
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    idx.resize(k);
    return idx;
}

void run(const logits_options & o) {
    ranked_engine   ranked(o.model, o.parallel);
    engine &        e  = ranked.e;
    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    session                    s(e, so);
    const std::vector<int32_t> ids = parse_ids(o.ids);
    if (ids.empty()) {
        fail("logits: --ids is empty");
    }
    routing_recorder         log(static_cast<int>(e.hparams().n_layer));
    const std::vector<float> l = s.eval_all(ids, &log);
    const int64_t            V = e.hparams().n_vocab;
    report_streaming(e, o.model);
    report_routing(e, so.routing.get(), s.routing_counts());

    if (o.json) {
        nlohmann::json out;
        out["model"]   = o.model.model;
        out["n_vocab"] = V;
        out["ids"]     = ids;
        for (size_t p = 0; p < ids.size(); ++p) {
            const float *  lp = l.data() + p * V;
            nlohmann::json pos;
            pos["id"] = ids[p];
            for (int32_t t : top_ids(lp, V, o.top)) {
                pos["top"].push_back({t, lp[t]});
            }
            if (o.all) {
                pos["logits"] = std::vector<float>(lp, lp + V);
            }
            pos["routing"]["experts"] = log.experts.at(p);
            pos["routing"]["weights"] = log.weights.at(p);
            out["positions"].push_back(std::move(pos));
        }
        fmt::print("{}\n", out.dump());
        return;
    }
    for (size_t p = 0; p < ids.size(); ++p) {
        const float * lp = l.data() + p * V;
        fmt::print("pos {} id {}\n  top:", p, ids[p]);
        for (int32_t t : top_ids(lp, V, o.top)) {
            fmt::print(" {}:{:.4f}", t, lp[t]);
        }
        fmt::print("\n");
        for (size_t layer = 0; layer < log.experts.at(p).size(); ++layer) {
            fmt::print("  layer {:2}:", layer);
            for (size_t j = 0; j < log.experts[p][layer].size(); ++j) {
                fmt::print(" {}({:.3f})", log.experts[p][layer][j], log.weights[p][layer][j]);
            }
            fmt::print("\n");
        }
    }
}

}  // namespace

void add_logits_command(CLI::App & app) {
    auto   o   = std::make_shared<logits_options>();
    auto * cmd = app.add_subcommand("logits", "logits and expert routing at every position of a token sequence");
    add_model_flags(cmd, o->model);
    add_parallel_flags(cmd, o->parallel);
    add_routing_flags(cmd, o->routing);
    cmd->add_option("--ids", o->ids, "token ids, e.g. 1,629,282")->required();
    cmd->add_option("--top", o->top, "how many of the largest logits to print per position")->default_val(10);
    cmd->add_flag("--json", o->json, "print JSON: per position the top logits and the routing per layer");
    cmd->add_flag("--all", o->all, "with --json, include every logit");
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
