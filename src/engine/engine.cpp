#include "engine/engine.h"

#include "experts/budget.h"
#include "experts/calibration.h"
#include "experts/packed_file.h"
#include "experts/streaming_source.h"
#include "gguf/summary.h"
#include "model/registry.h"
#include "model/tensor_table.h"
#include "util/error.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace sluice {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

engine::engine(const engine_options & opt)
    : file_(gguf_file::open(opt.model_path)), pool_(opt.n_threads), runner_(pool_, choose_isa(opt.force_isa)) {
    if (is_packed_file(file_)) {
        fail(
            "{}: a file of packed experts (`sluice pack-experts`), not a model; run its model with -m and give this "
            "file with --packed-experts",
            file_.path());
    }
    model_ = load_model(file_);
    if (const std::optional<expert_shard> & shard = model_->experts().shard()) {
        // A shard holds one rank's experts: it runs only as that rank of that many.
        if (!opt.split) {
            fail(
                "{}: this file holds rank {}'s experts of {} (`sluice shard`); run it under mpirun -np {} with "
                "--expert-parallel",
                file_.path(), shard->rank, shard->partition.ranks(), shard->partition.ranks());
        }
        if (opt.split->ranks != shard->partition.ranks() || opt.split->rank != shard->rank) {
            fail("{}: this file holds rank {}'s experts of {}, but this process is rank {} of {}", file_.path(),
                 shard->rank, shard->partition.ranks(), opt.split->rank, opt.split->ranks);
        }
        partition_ = shard->partition;
    } else if (opt.split) {
        partition_ = split_experts(*opt.split);
    }
    if (!opt.packed_experts.empty() && !opt.repack_experts) {
        fail("--no-repack keeps the experts in the file's layout, --packed-experts reads them packed; use one");
    }
    if (opt.expert_budget.empty()) {
        if (!opt.packed_experts.empty()) {
            packed_ = std::make_unique<packed_experts>(model_->experts(), opt.packed_experts, runner_);
        } else if (opt.repack_experts && !opt.split && !model_->experts().shard()) {
            packed_ = std::make_unique<packed_experts>(model_->experts(), runner_);
        }
        experts_ = std::make_unique<mmap_expert_source>(model_->experts(), packed_.get());
    } else {
        streaming_options so = opt.streaming;
        // A percentage is of the experts this process computes: all of them, or its share.
        uint64_t expert_bytes = model_->experts().total_bytes();
        if (opt.split) {
            so.partition = partition_;
            so.rank      = opt.split->rank;
            expert_bytes = owned_expert_bytes(opt.split->rank);
        }
        so.budget       = parse_budget(opt.expert_budget, expert_bytes);
        so.packed_path  = opt.packed_experts;
        so.pack_on_read = opt.repack_experts;
        auto source =
            std::make_unique<streaming_expert_source>(file_.part_paths(), model_->experts(), model_->routers(),
                                                      static_cast<int>(hparams().n_expert_used), runner_, so);
        streaming_ = source.get();
        experts_   = std::move(source);
    }
    if (file_.find("tokenizer.ggml.model") != nullptr) {
        tok_ = tokenizer::from_gguf(file_);
        if (tok_->n_vocab() != model_->hparams().n_vocab) {
            fail("{}: the tokenizer has {} tokens but the embedding table {} rows", file_.path(), tok_->n_vocab(),
                 model_->hparams().n_vocab);
        }
    }
    load_ms_ = ms_since(start_);
}

expert_partition engine::split_experts(const engine_options::expert_split & split) const {
    std::vector<int> experts_per_layer;
    for (const router & r : model_->routers()) {
        experts_per_layer.push_back(r.routed() ? r.n_expert : 0);
    }
    if (split.calibration.empty()) {
        return expert_partition::round_robin(experts_per_layer, split.ranks);
    }
    const model_hparams & hp = hparams();
    const calibration     cal =
        calibration::load(split.calibration, static_cast<int>(hp.n_layer), static_cast<int>(hp.n_expert), hp.n_embd);
    return expert_partition::by_popularity(experts_per_layer, cal.counts, split.ranks);
}

engine::expert_use_summary engine::expert_use() const {
    expert_use_summary   s;
    const expert_store & ex = model_->experts();
    for (size_t l = 0; l < use_.passes.size(); ++l) {
        s.layer_passes += use_.passes[l];
        s.experts += use_.experts[l];
        s.bytes += use_.experts[l] * ex.expert_bytes(static_cast<int>(l));
    }
    return s;
}

uint64_t engine::owned_expert_bytes(int rank) const {
    const expert_store & ex    = model_->experts();
    uint64_t             bytes = 0;
    for (int l = 0; l < ex.n_layer() && l < partition_.n_layer(); ++l) {
        bytes += ex.expert_bytes(l) * partition_.owned(l, rank).size();
    }
    return bytes;
}

const tokenizer & engine::require_tokenizer() const {
    if (!tok_) {
        fail("{}: the file has no tokenizer (tokenizer.ggml.model); give token ids with --ids", file_.path());
    }
    return *tok_;
}

std::vector<int32_t> engine::end_of_generation_ids() const {
    std::vector<int32_t> ids;
    if (tok_) {
        for (int32_t id = 0; id < tok_->n_vocab(); ++id) {
            if (tok_->is_end_of_generation(id)) {
                ids.push_back(id);
            }
        }
    } else if (auto eos = file_.get_u32("tokenizer.ggml.eos_token_id")) {
        ids.push_back(static_cast<int32_t>(*eos));
    }
    return ids;
}

engine::~engine() = default;

expert_cache_counters engine::expert_stats() const {
    if (streaming_ == nullptr) {
        return {};
    }
    const layer_stream_stats t = streaming_->stats().total();
    return {t.hits, t.late + t.misses, t.bytes_read};
}

std::optional<stream_stats> engine::streaming_stats() const {
    if (streaming_ == nullptr) {
        return std::nullopt;
    }
    return streaming_->stats();
}

uint64_t engine::active_bytes_per_token() const {
    uint64_t                                      bytes = 0;
    const bool                                    tied  = file_.find_tensor("output.weight") == nullptr;
    const std::vector<std::optional<tensor_role>> roles = tensor_roles(file_);
    for (size_t i = 0; i < roles.size(); ++i) {
        const gguf_tensor & t = file_.tensors()[i];
        if (roles[i] == tensor_role::EXPERTS) {
            continue;  // counted below, k experts per layer
        }
        if (t.name == "token_embd.weight" && !tied) {
            bytes += t.row_bytes();
            continue;
        }
        bytes += t.nbytes;
    }
    const expert_store & ex = model_->experts();
    for (int l = 0; l < ex.n_layer(); ++l) {
        bytes += ex.expert_bytes(l) * static_cast<uint64_t>(hparams().n_expert_used);
    }
    return bytes;
}

namespace {

// A forward pass over weights that hold NaN or Inf yields non-finite logits; sampling from
// them would print garbage with a zero exit, so the pass is an error instead.
// pos: the position of the first of the rows of n_vocab logits.
void check_finite(const float * logits, size_t rows, int64_t n_vocab, int64_t pos) {
    const size_t v = static_cast<size_t>(n_vocab);
    for (size_t i = 0; i < rows * v; ++i) {
        if (!std::isfinite(logits[i])) {
            fail(
                "the model computed a non-finite logit ({}) at position {}: its weights or activations hold NaN "
                "or Inf (check the file with `sluice info --check`)",
                logits[i], pos + static_cast<int64_t>(i / v));
        }
    }
}

}  // namespace

routing_controls engine::make_routing(const routing_request & req) const {
    const std::span<const router> rs = model_->routers();
    std::vector<bool>             moe(rs.size());
    for (size_t l = 0; l < rs.size(); ++l) {
        moe[l] = rs[l].routed();
    }
    return make_routing_controls(req, static_cast<int>(rs.size()), static_cast<int>(hparams().n_expert),
                                 static_cast<int>(hparams().n_expert_used), moe);
}

engine::routing_summary engine::summarize(const routing_tally & t) const {
    routing_summary      s;
    const expert_store & ex = model_->experts();
    s.file_k                = static_cast<int>(hparams().n_expert_used);
    int moe_layers          = 0;
    for (size_t l = 0; l < t.uses.size(); ++l) {
        if (t.tokens[l] == 0) {
            continue;
        }
        const double per_token = static_cast<double>(t.uses[l]) / static_cast<double>(t.tokens[l]);
        s.experts_per_layer += per_token;
        const auto bytes = static_cast<double>(ex.expert_bytes(static_cast<int>(l)));
        s.expert_bytes_per_token += per_token * bytes;
        s.file_expert_bytes += s.file_k * bytes;
        ++moe_layers;
    }
    if (moe_layers > 0) {
        s.experts_per_layer /= moe_layers;
    }
    return s;
}

session::session(engine & e, const session_options & opt) : engine_(e), opt_(opt) {
    // As llama.cpp: a file's training context (2^21 in some) is no default for one run.
    int64_t n_ctx = opt.n_ctx > 0 ? opt.n_ctx : std::min<int64_t>(default_n_ctx, e.hparams().n_ctx_train);
    if (n_ctx <= 0) {
        fail("context size must be positive");
    }
    if (opt_.n_batch <= 0) {
        opt_.n_batch = 256;
    }
    state_ = e.net().new_state(n_ctx, opt.kv_type);
    logits_.resize(e.hparams().n_vocab);
}

void session::reset() {
    state_->n_past = 0;
    history_.clear();
}

bool session::can_rewind() const {
    return state_->rec.empty();
}

void session::rewind(int64_t n) {
    if (n < 0 || n > state_->n_past) {
        fail("rewind: {} tokens asked to keep of {} cached", n, state_->n_past);
    }
    if (n == 0) {
        reset();
        return;
    }
    if (n < state_->n_past && !can_rewind()) {
        fail("rewind: this model's recurrent state cannot go back from {} to {} tokens", state_->n_past, n);
    }
    state_->n_past = n;
    history_.resize(static_cast<size_t>(n));
}

void session::feed(std::span<const int32_t> tokens, forward_observer * observer, float * all_logits, bool agreed) {
    const int64_t         n_vocab = engine_.hparams().n_vocab;
    const row_routing     rr[1]   = {routing_row()};
    const forward_context ctx{engine_.runner(),   engine_.experts(),     observer,           rr,
                              engine_.parallel(), engine_.use_counter(), engine_.workspace()};
    if (ctx.parallel != nullptr && !agreed) {
        ctx.parallel->check_same_tokens(tokens);
    }
    for (size_t i = 0; i < tokens.size(); i += opt_.n_batch) {
        const size_t n   = std::min<size_t>(opt_.n_batch, tokens.size() - i);
        float *      out = all_logits != nullptr ? all_logits + i * n_vocab : logits_.data();
        engine_.net().forward(*state_, tokens.subspan(i, n), ctx, out, all_logits != nullptr);
        const size_t rows = all_logits != nullptr ? n : 1;
        check_finite(out, rows, n_vocab, state_->n_past - static_cast<int64_t>(rows));
        history_.insert(history_.end(), tokens.begin() + static_cast<ptrdiff_t>(i),
                        tokens.begin() + static_cast<ptrdiff_t>(i + n));
    }
}

std::span<const float> session::eval(std::span<const int32_t> tokens, forward_observer * observer) {
    feed(tokens, observer, nullptr);
    return logits_;
}

std::vector<float> session::eval_all(std::span<const int32_t> tokens, forward_observer * observer) {
    const int64_t      n_vocab = engine_.hparams().n_vocab;
    std::vector<float> all(tokens.size() * n_vocab);
    feed(tokens, observer, all.data());
    if (!tokens.empty()) {
        std::copy(all.end() - n_vocab, all.end(), logits_.begin());
    }
    return all;
}

generate_stats session::generate(std::span<const int32_t> prompt, const generate_options & opt, sampler & pick,
                                 const std::function<bool(int32_t)> & on_token) {
    generate_stats st;
    if (prompt.empty() && history_.empty()) {
        fail("generate: the prompt is empty (add a BOS token or some text)");
    }
    auto t0 = std::chrono::steady_clock::now();
    if (!prompt.empty()) {
        eval(prompt);
    }
    st.prompt_tokens = static_cast<int64_t>(prompt.size());
    st.prompt_ms     = ms_since(t0);

    t0 = std::chrono::steady_clock::now();
    while (opt.n_predict < 0 || st.generated_tokens < opt.n_predict) {
        if (state_->n_past >= state_->n_ctx()) {
            break;
        }
        int32_t id = pick.sample(logits_, history_);
        if (engine_.parallel() != nullptr) {
            id = engine_.parallel()->token_of_first_rank(id);
        }
        ++st.generated_tokens;
        const bool eog = std::find(opt.stop_tokens.begin(), opt.stop_tokens.end(), id) != opt.stop_tokens.end();
        if (!on_token(id)) {
            break;
        }
        if (eog && !opt.ignore_eos) {
            st.stopped_by_eog = true;
            break;
        }
        const int32_t one[1] = {id};
        feed(one, nullptr, nullptr, /*agreed=*/true);  // every rank took rank 0's token above
    }
    st.generate_ms = ms_since(t0);
    return st;
}

void eval_batch(std::span<session * const> sessions, std::span<const std::span<const int32_t>> chunks) {
    if (sessions.size() != chunks.size()) {
        fail("eval_batch: {} token chunks for {} sessions", chunks.size(), sessions.size());
    }
    if (sessions.empty()) {
        return;
    }
    engine &                   e = sessions[0]->engine_;
    std::vector<sequence_feed> seqs;
    std::vector<row_routing>   rows;  // one per row: each row routes as its session says
    std::vector<int32_t>       all;   // every row's token, for the expert-parallel check
    for (size_t i = 0; i < sessions.size(); ++i) {
        if (&sessions[i]->engine_ != &e) {
            fail("eval_batch: the sessions belong to different engines");
        }
        if (std::find(sessions.begin(), sessions.begin() + static_cast<ptrdiff_t>(i), sessions[i]) !=
            sessions.begin() + static_cast<ptrdiff_t>(i)) {
            fail("eval_batch: session {} is given twice", i);
        }
        if (chunks[i].empty()) {
            fail("eval_batch: session {} is given no tokens", i);
        }
        seqs.push_back({sessions[i]->state_.get(), chunks[i]});
        rows.insert(rows.end(), chunks[i].size(), sessions[i]->routing_row());
        all.insert(all.end(), chunks[i].begin(), chunks[i].end());
    }
    const int64_t         n_vocab = e.hparams().n_vocab;
    std::vector<float>    logits(sessions.size() * n_vocab);
    const forward_context ctx{e.runner(), e.experts(), nullptr, rows, e.parallel(), e.use_counter(), e.workspace()};
    if (ctx.parallel != nullptr) {
        ctx.parallel->check_same_tokens(all);
    }
    e.net().forward_batch(seqs, ctx, logits.data());
    for (size_t i = 0; i < sessions.size(); ++i) {
        check_finite(logits.data() + i * static_cast<size_t>(n_vocab), 1, n_vocab, seqs[i].state->n_past - 1);
    }
    for (size_t i = 0; i < sessions.size(); ++i) {
        std::copy(logits.begin() + static_cast<ptrdiff_t>(i * n_vocab),
                  logits.begin() + static_cast<ptrdiff_t>((i + 1) * n_vocab), sessions[i]->logits_.begin());
        sessions[i]->history_.insert(sessions[i]->history_.end(), chunks[i].begin(), chunks[i].end());
    }
}

void decode_batch(std::span<session * const> sessions, std::span<const int32_t> tokens) {
    if (sessions.size() != tokens.size()) {
        fail("decode_batch: {} tokens for {} sessions", tokens.size(), sessions.size());
    }
    std::vector<std::span<const int32_t>> chunks;
    for (const int32_t & t : tokens) {
        chunks.emplace_back(&t, 1);
    }
    eval_batch(sessions, chunks);
}

}  // namespace sluice
