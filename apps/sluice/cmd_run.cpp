// `sluice run`: generate text from a prompt, streaming it as it is produced, then one stats
// line on stderr (load time, prompt and generation speed, peak RSS).

#include "chat_session.h"
#include "cli_common.h"
#include "cli_parallel.h"
#include "cli_routing.h"
#include "commands.h"
#include "util/error.h"
#include "util/memory_stats.h"

#include <fmt/format.h>

#include <cstdio>
#include <optional>

namespace sluice::cli {
namespace {

struct run_options {
    model_flags     model;
    parallel_flags  parallel;
    routing_request routing;
    std::string     ids, prompt, file;
    bool            special = false;
    bool            chat    = false;
    chat_options    chat_opt;
    int32_t         n_predict  = 128;
    bool            ignore_eos = false;
    sampler_params  sampling;
};

void print_stats(const engine & e, const generate_stats & st, const model_flags & f) {
    std::fflush(stdout);
    if (!reporting_rank(e)) {
        return;
    }
    fmt::print(stderr,
               "load {:.0f} ms | prompt {} tokens, {:.1f} tok/s | generated {} tokens, {:.1f} tok/s | peak RSS {}\n",
               e.load_ms(), st.prompt_tokens, st.prompt_tokens / (st.prompt_ms / 1000.0), st.generated_tokens,
               st.generated_tokens / (st.generate_ms / 1000.0), human_bytes(peak_rss_bytes()));
    report_streaming(e, f);
}

// --chat: with -p, one turn; without, a conversation on stdin (one line per user turn, an
// empty line or end of input ends it).
void run_chat(const run_options & o) {
    if (!o.ids.empty() || !o.file.empty()) {
        fail("run --chat takes its message from -p (or from standard input), not --ids or -f");
    }
    if (o.parallel.enabled && o.prompt.empty()) {
        fail("run --chat --expert-parallel takes one turn from -p: only rank 0 would read standard input");
    }
    ranked_engine   ranked(o.model, o.parallel);
    engine &        e  = ranked.e;
    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    chat_session     chat(e, so, o.chat_opt);
    sampler          pick(o.sampling);
    generate_options g;
    g.n_predict      = o.n_predict;
    g.ignore_eos     = o.ignore_eos;
    g.stop_tokens    = e.end_of_generation_ids();
    const auto print = [](const std::string & piece) {
        fmt::print("{}", piece);
        std::fflush(stdout);
    };
    generate_stats st;
    if (!o.prompt.empty()) {
        chat.turn(o.prompt, g, pick, print, st);
        fmt::print("\n");
        print_stats(e, st, o.model);
        report_routing(e, so.routing.get(), chat.routing_counts());
        return;
    }
    fmt::print(stderr, "chat template: {}. One message per line; an empty line ends.\n", chat.template_origin());
    for (;;) {
        fmt::print("> ");
        std::fflush(stdout);
        char        buf[4096];
        std::string line;
        while (std::fgets(buf, sizeof buf, stdin) != nullptr) {
            line += buf;
            if (!line.empty() && line.back() == '\n') {
                break;
            }
        }
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
            line.pop_back();
        }
        if (line.empty()) {
            break;
        }
        chat.turn(line, g, pick, print, st);
        fmt::print("\n");
        print_stats(e, st, o.model);
        report_routing(e, so.routing.get(), chat.routing_counts());
    }
}

void run(const run_options & o) {
    if (o.chat) {
        run_chat(o);
        return;
    }
    ranked_engine   ranked(o.model, o.parallel);
    engine &        e  = ranked.e;
    session_options so = make_session_options(o.model);
    so.routing         = make_routing(e, o.routing);
    session                    s(e, so);
    const std::vector<int32_t> prompt = prompt_tokens(e, o.ids, o.prompt, o.file, o.special);
    if (prompt.empty()) {
        fail("run: the prompt is empty (give -p TEXT, -f FILE or --ids)");
    }
    sampler          pick(o.sampling);
    generate_options g;
    g.n_predict   = o.n_predict;
    g.ignore_eos  = o.ignore_eos;
    g.stop_tokens = e.end_of_generation_ids();

    // Text streams through the detokenizer (never half a UTF-8 character); a model without
    // a tokenizer prints ids. The prompt is echoed first, as llama.cpp does.
    std::optional<detokenizer> text;
    if (e.tok() != nullptr && o.ids.empty()) {
        text.emplace(*e.tok());
        for (int32_t id : prompt) {
            fmt::print("{}", text->push(id));
        }
    }
    const generate_stats st = s.generate(prompt, g, pick, [&](int32_t id) {
        if (text) {
            if (!e.tok()->is_end_of_generation(id)) {
                fmt::print("{}", text->push(id));
            }
        } else {
            fmt::print("{} ", id);
        }
        std::fflush(stdout);
        return true;
    });
    if (text) {
        fmt::print("{}", text->flush());
    }
    fmt::print("\n");
    print_stats(e, st, o.model);
    report_routing(e, so.routing.get(), s.routing_counts());
}

}  // namespace

void add_run_command(CLI::App & app) {
    auto   o   = std::make_shared<run_options>();
    auto * cmd = app.add_subcommand("run", "generate text from a prompt");
    add_model_flags(cmd, o->model);
    add_parallel_flags(cmd, o->parallel);
    add_routing_flags(cmd, o->routing);
    cmd->add_option("-p,--prompt", o->prompt, "prompt text");
    cmd->add_option("-f,--file", o->file, "read the prompt from a file");
    cmd->add_option("--ids", o->ids, "prompt as token ids, e.g. 1,629,282 (models without a tokenizer)");
    cmd->add_flag("--special", o->special, "parse control-token text (e.g. <|im_start|>) in the prompt");
    cmd->add_flag("--chat", o->chat, "chat through the model's template: one turn with -p, else read turns from stdin");
    cmd->add_option("--system", o->chat_opt.system, "with --chat, a system message");
    cmd->add_option("--chat-template", o->chat_opt.template_name,
                    "with --chat, a built-in template instead of the file's: chatml, llama3, gemma, phi3, mistral");
    cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until the context is full)")
        ->default_val(128);
    cmd->add_flag("--ignore-eos", o->ignore_eos, "keep generating after an end-of-generation token");
    add_sampling_flags(cmd, o->sampling);
    cmd->callback([o] { run(*o); });
}

}  // namespace sluice::cli
