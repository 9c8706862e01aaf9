// `sluice quantize -m IN -o OUT --type q8_0`: re-quantize a model's weight matrices.

#include "cli_common.h"
#include "commands.h"
#include "tensor/quantize.h"
#include "tools/quantize.h"
#include "util/error.h"
#include "util/thread_pool.h"

#include <fmt/format.h>

namespace sluice::cli {
namespace {

struct quantize_options {
    std::string input, output, type = "q8_0";
    std::string split_max_size;
    std::string expert_shadow;
    int         threads      = 0;
    bool        experts_only = false;
};

void run(const quantize_options & o, const CLI::App & cmd) {
    quantize_scope scope = o.experts_only ? quantize_scope::EXPERTS : quantize_scope::ALL;
    std::string    name  = o.type;
    if (!o.expert_shadow.empty()) {
        if (o.experts_only || cmd.count("--type") > 0) {
            fail("quantize: --expert-shadow TYPE names the type and writes only the experts; leave out {}",
                 o.experts_only ? "--experts-only" : "--type");
        }
        scope = quantize_scope::SHADOW;
        name  = o.expert_shadow;
    }
    const auto type = parse_type_name(name);
    if (!type) {
        fail("quantize: unknown type '{}'", name);
    }
    const uint64_t        split = split_max_bytes(o.split_max_size);
    thread_pool           pool(o.threads);
    const quantize_report r = quantize_file(o.input, o.output, *type, pool, scope, split);
    fmt::print("{}: {} tensors converted to {}, {} kept; {} -> {}\n", written_files(r.files), r.tensors_converted,
               type_name(*type), r.tensors_kept, human_bytes(r.bytes_in), human_bytes(r.bytes_out));
}

}  // namespace

void add_quantize_command(CLI::App & app) {
    auto   o   = std::make_shared<quantize_options>();
    auto * cmd = app.add_subcommand("quantize", "write a copy of a model with its weight matrices in another type");
    cmd->add_option("-m,--model", o->input, "input GGUF file (the first part of a split model)")->required();
    cmd->add_option("-o,--output", o->output, "output GGUF file")->required();
    cmd->add_option("--type", o->type, fmt::format("target type: {}", quantizable_type_names()))->default_val("q8_0");
    add_split_flag(cmd, o->split_max_size);
    cmd->add_flag("--experts-only", o->experts_only,
                  "convert only the routed experts' matrices (*_exps), keeping the rest as they are (how "
                  "'dynamic' downloads put i-quants where most of the bytes are)");
    cmd->add_option("--expert-shadow", o->expert_shadow,
                    "write only the routed experts, in TYPE: a shadow that streaming reads instead of the exact "
                    "experts where --shadow-policy says (fewer bytes per token, lossy)");
    cmd->add_option("-t,--threads", o->threads, "threads (default: all)");
    cmd->callback([o, cmd] { run(*o, *cmd); });
}

}  // namespace sluice::cli
