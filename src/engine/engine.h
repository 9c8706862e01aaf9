// The public C++ API of sluice: load a model, open sessions on it, feed tokens, read
// logits, generate. The CLI, the server and the tools use nothing below this.
//
//   sluice::engine   e({.model_path = "model.gguf", .n_threads = 2});
//   sluice::session  s(e, {.n_ctx = 2048});
//   sluice::sampler  pick({.temperature = 0.7f, .seed = 1});
//   s.generate(prompt_ids, {.n_predict = 64}, pick, [](int32_t id) { ...; return true; });
#pragma once

#include "experts/expert_parallel.h"
#include "experts/expert_source.h"
#include "experts/routing_controls.h"
#include "experts/streaming_options.h"
#include "experts/streaming_stats.h"
#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluice {

class streaming_expert_source;  // experts/streaming_source.h

// The few expert-cache totals a server exports (GET /metrics); --stats has the full table.
struct expert_cache_counters {
    uint64_t hits       = 0;  // experts ready in the cache when the router chose them
    uint64_t misses     = 0;  // experts still being read or read on demand
    uint64_t bytes_read = 0;  // bytes read from disk into the cache
};

struct engine_options {
    std::string        model_path;
    int                n_threads = 0;  // <= 0: every hardware thread
    std::optional<isa> force_isa;      // default: the best this CPU runs (CPUID); else must be supported
    // Routed experts held in memory are packed at load into the kernels' form for the ISA
    // (experts/packed_experts.h), where it has one: the same results, faster prefill. false:
    // they stay views of the file's mapping (no copy while loading). Not under expert
    // parallelism in RAM, whose experts stay as the file lays them out. Streamed
    // (--expert-budget), experts are packed in their slots as their reads land
    // (streaming_options::pack_on_read); false: they compute in the file's layout.
    bool repack_experts = true;
    // The routed experts packed ahead of time for this CPU (`sluice pack-experts`,
    // experts/packed_file.h): in RAM they are copied from that file instead of packed at load
    // (views of it where they do not fit), and streamed they are read from it in the packed
    // form. Empty: from the model's file.
    std::string packed_experts;
    // Routed experts stream from disk into a cache of at most this much ("2G", "25%" of the
    // expert bytes); empty: they stay mapped with the rest of the file.
    std::string       expert_budget;
    streaming_options streaming;  // how they stream (budget is set from expert_budget)
    // Expert parallelism (src/parallel joins the ranks): this process is one of several that
    // split the routed experts. The engine partitions them (expert_partition) once the model
    // is loaded, so that under --expert-budget the cache holds, reads and predicts only this
    // rank's experts and a percentage budget is of their bytes.
    struct expert_split {
        int         rank  = 0;
        int         ranks = 1;
        std::string calibration;  // non-empty: balance by its popularity counts, else round robin
    };
    std::optional<expert_split> split;
};

class engine {
  public:
    // Maps and validates the file and builds its architecture; throws sluice::error.
    explicit engine(const engine_options & opt);
    ~engine();

    const gguf_file &     file() const { return file_; }
    const model &         net() const { return *model_; }
    const model_hparams & hparams() const { return model_->hparams(); }
    thread_pool &         pool() { return pool_; }
    matmul_runner &       runner() { return runner_; }
    expert_source &       experts() { return *experts_; }
    // Expert-cache totals for metrics (zeros while experts come from the mapping). Not
    // thread-safe against a running forward pass: read it between passes.
    expert_cache_counters expert_stats() const;
    double                load_ms() const { return load_ms_; }
    // Bytes of routed experts packed at load (engine_options::repack_experts); 0: none.
    uint64_t packed_expert_bytes() const { return packed_ != nullptr ? packed_->bytes() : 0; }

    // The file's tokenizer, or nullptr when it has no tokenizer.ggml.* metadata (synthetic
    // models: those take token ids).
    const tokenizer * tok() const { return tok_.get(); }
    // The tokenizer, or an error naming the file when there is none.
    const tokenizer & require_tokenizer() const;
    // Ids that end generation (eos, eot, <|im_end|>, ...), from the tokenizer.
    std::vector<int32_t> end_of_generation_ids() const;

    // Weight bytes one decoded token reads: every non-expert tensor (one row of the
    // embedding table), plus n_expert_used experts per MoE layer. Divided into the memory
    // bandwidth it bounds decode speed.
    uint64_t active_bytes_per_token() const;

    // Routing controls for this model from flags or a request; throws naming the bad value.
    routing_controls make_routing(const routing_request & req) const;
    // Average experts per token and layer, and expert bytes per token, from a session's
    // counters: what a routing control costs in compute and in bytes read.
    struct routing_summary {
        double experts_per_layer      = 0.0;  // chosen experts per token, averaged over MoE layers
        int    file_k                 = 0;    // the file's experts per token
        double expert_bytes_per_token = 0.0;  // summed over MoE layers
        double file_expert_bytes      = 0.0;  // the same with the file's k
    };
    routing_summary summarize(const routing_tally & t) const;

    // Replaces where experts come from; the engine keeps it alive (and frees the experts it
    // packed at load).
    void set_expert_source(std::unique_ptr<expert_source> source) {
        experts_   = std::move(source);
        streaming_ = nullptr;
        packed_.reset();  // only the replaced source read it
    }
    // Expert parallelism (src/parallel builds one over MPI): from now on this process computes
    // only the experts `p` says it owns, combines every MoE block's sum with its peers, feeds
    // only the tokens rank 0 feeds and continues generation with rank 0's samples. nullptr:
    // every expert here.
    void set_expert_parallel(std::shared_ptr<expert_parallel> p) { parallel_ = std::move(p); }
    // With engine_options::split: which rank owns which expert; else empty.
    const expert_partition & partition() const { return partition_; }
    expert_parallel *        parallel() const { return parallel_.get(); }

    // The streaming cache's counters (--stats) when --expert-budget is in force, else nullopt.
    // Not thread-safe against a running forward pass: read it between passes.
    std::optional<stream_stats> streaming_stats() const;

    // What the MoE blocks of every forward pass so far computed (sessions and decode_batch
    // count into it): MoE layer passes, the distinct experts over them, and those experts'
    // bytes (what a pass reads, once per expert however many rows chose it). Not thread-safe
    // against a running forward pass: read it between passes.
    struct expert_use_summary {
        uint64_t layer_passes = 0;
        uint64_t experts      = 0;
        uint64_t bytes        = 0;
    };
    expert_use_summary  expert_use() const;
    expert_use_counts * use_counter() { return &use_; }
    forward_workspace * workspace() { return &work_; }

    // Bytes of the routed experts `rank` owns under partition() (0 without a split).
    uint64_t owned_expert_bytes(int rank) const;

  private:
    expert_partition split_experts(const engine_options::expert_split & split) const;

    // First member: load_ms() covers mapping and validating the file too.
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    gguf_file                             file_;
    std::unique_ptr<model>                model_;
    thread_pool                           pool_;
    matmul_runner                         runner_;
    std::unique_ptr<packed_experts>       packed_;  // before experts_, which may point into it
    std::unique_ptr<expert_source>        experts_;
    streaming_expert_source *             streaming_ = nullptr;  // experts_, when it streams
    std::unique_ptr<tokenizer>            tok_;
    std::shared_ptr<expert_parallel>      parallel_;
    expert_partition                      partition_;
    expert_use_counts                     use_;
    forward_workspace                     work_;  // one pass at a time, as runner_'s scratch
    double                                load_ms_ = 0.0;
};

// The context of a session that asks for none: this, or the model's training context when
// that is smaller.
inline constexpr int64_t default_n_ctx = 4096;

struct session_options {
    int64_t   n_ctx   = 0;               // <= 0: min(default_n_ctx, the model's training context)
    ggml_type kv_type = ggml_type::F16;  // F16 or F32
    int64_t   n_batch = 256;             // prompt tokens per forward pass
    // Routing controls (engine::make_routing), or nullptr: the file's routing.
    std::shared_ptr<const routing_controls> routing = nullptr;
    // Keep the routing of the last token of each forward pass (last_routing()).
    bool record_routing = false;
};

struct generate_options {
    int32_t              n_predict  = 128;  // < 0: until the context is full
    bool                 ignore_eos = false;
    std::vector<int32_t> stop_tokens;  // end-of-generation ids (eos, eot, ...)
};

struct generate_stats {
    int64_t prompt_tokens    = 0;
    double  prompt_ms        = 0.0;
    int64_t generated_tokens = 0;
    double  generate_ms      = 0.0;
    bool    stopped_by_eog   = false;
};

// One sequence: its KV cache and its token history. Not thread-safe; one engine runs one
// forward pass at a time.
class session {
  public:
    session(engine & e, const session_options & opt);

    int64_t                      n_ctx() const { return state_->n_ctx(); }
    int64_t                      n_past() const { return state_->n_past; }
    const std::vector<int32_t> & history() const { return history_; }
    void                         reset();
    // Keeps the first n tokens of the history (n <= n_past) and drops the rest: the next eval
    // continues at position n, reusing the cached keys and values of the kept prefix (the
    // server's prompt cache). rewind(0) is reset(). Throws for n > n_past, and for n short of
    // n_past when the model carries recurrent state (gated DeltaNet), which cannot go back.
    void rewind(int64_t n);
    // Whether rewind() may drop tokens: the model keeps no recurrent state.
    bool can_rewind() const;

    // Appends tokens (in batches of n_batch) and returns the logits after the last one.
    std::span<const float> eval(std::span<const int32_t> tokens, forward_observer * observer = nullptr);

    // Appends tokens and returns the logits after every one of them: [n][n_vocab].
    std::vector<float> eval_all(std::span<const int32_t> tokens, forward_observer * observer = nullptr);

    // Feeds the prompt, then samples and feeds tokens until n_predict, an end-of-generation
    // token (unless ignore_eos) or a full context. on_token is called for every generated
    // token (an end-of-generation token included) and may return false to stop.
    generate_stats generate(std::span<const int32_t> prompt, const generate_options & opt, sampler & pick,
                            const std::function<bool(int32_t)> & on_token);

    // The logits after the last token fed (by eval or decode_batch): n_vocab floats.
    std::span<const float> logits() const { return logits_; }

    // Experts chosen per layer since the session began (reset() keeps them).
    const routing_tally & routing_counts() const { return tally_; }
    // With record_routing: the experts and weights that computed logits() (the last token fed).
    const routed_token & last_routing() const { return record_; }
    void set_routing(std::shared_ptr<const routing_controls> controls) { opt_.routing = std::move(controls); }
    void set_record_routing(bool on) {
        opt_.record_routing = on;
        record_.layers.clear();
    }

  private:
    friend void eval_batch(std::span<session * const> sessions, std::span<const std::span<const int32_t>> chunks);

    // Runs tokens through the model in batches of n_batch; writes every token's logits to
    // all_logits when given, else the last token's to logits_.
    // agreed: the ranks of an expert-parallel job hold these tokens already (rank 0's sample),
    // so they need not compare them.
    void feed(std::span<const int32_t> tokens, forward_observer * observer, float * all_logits, bool agreed = false);
    row_routing routing_row() { return {opt_.routing.get(), &tally_, opt_.record_routing ? &record_ : nullptr}; }

    engine &                     engine_;
    session_options              opt_;
    std::unique_ptr<model_state> state_;
    std::vector<int32_t>         history_;
    std::vector<float>           logits_;
    routing_tally                tally_;
    routed_token                 record_;
};

// One decode step for several sessions of the same engine in one forward pass (continuous
// batching: the set may change from one step to the next). tokens[i] is appended to
// sessions[i]; afterwards sessions[i]->logits() are those after it. The logits equal what
// sessions[i]->eval({tokens[i]}) gives. Throws on a full context, a bad id, a session
// given twice or sessions of different engines.
void decode_batch(std::span<session * const> sessions, std::span<const int32_t> tokens);

// One forward pass over several sessions of the same engine, each fed its own chunk: one
// token for a session decoding, part of a prompt for one still prefilling (the server mixes
// both in one step, so the step reads each expert once for all of them). Afterwards
// sessions[i]->logits() are those after the last token of chunks[i], equal to what
// sessions[i]->eval(chunks[i]) gives. No chunk may be empty; the whole step is one pass (the
// caller bounds its size). Throws as decode_batch does.
void eval_batch(std::span<session * const> sessions, std::span<const std::span<const int32_t>> chunks);

}  // namespace sluice
