// From a validated request to a job for the scheduler: the prompt as token ids (chat
// messages rendered through the model's chat template), then the checks that need the model:
// ids inside the vocabulary, the prompt shorter than the context, max_tokens fitting in it.
#pragma once

#include "chat/chat_prompt.h"
#include "chat/chat_template.h"
#include "engine/engine.h"
#include "server/request.h"
#include "server/scheduler.h"

#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::server {

// What a request leaves unset: the sampling flags of `sluice serve` (those of `run`).
struct generation_defaults {
    sampler_params sampling;
    bool           ignore_eos = false;
    int64_t        max_tokens = -1;     // when a request gives none; < 0: until the context is full
    bool           fixed_seed = false;  // requests without a seed use sampling.seed (else a fresh one each)
};

class prompt_builder {
  public:
    // template_name: a built-in template instead of the file's (empty: the file's
    // tokenizer.chat_template, else chatml). Throws sluice::error if the file's cannot be used.
    prompt_builder(const engine & e, const std::string & template_name);

    // The prompt's ids. Both refuse (400, context_length_exceeded) a text so long in bytes
    // that it cannot fit in n_ctx tokens, before tokenizing it: no token covers more than
    // max_token_bytes() bytes.
    //
    // chat: the template's own markup may hold control tokens (<|im_start|>, </s>); the
    // messages may not. What a client typed is tokenized as text (control-token text in it
    // becomes the ids of those characters), the template's markup with control tokens on.
    std::vector<int32_t> chat(const nlohmann::ordered_json & messages, int64_t n_ctx) const;
    std::vector<int32_t> completion(const completion_request & r, int64_t n_ctx) const;
    // The prompt text chat() tokenizes (POST /apply-template).
    std::string text(const nlohmann::ordered_json & messages) const;

    const std::string & template_origin() const { return origin_; }
    size_t              max_token_bytes() const { return ids_.max_token_bytes(); }

  private:
    void                  check_bytes(size_t bytes, int64_t n_ctx, const char * param) const;
    chat_prompt::rendered render(const nlohmann::ordered_json & messages) const;  // 400 if the template refuses

    const tokenizer & tok_;
    std::string       origin_;
    chat_template     template_;
    chat_prompt       ids_;
};

// Throws api_error (400) when the prompt does not fit in n_ctx or max_tokens is out of range.
job make_job(const generation_request & g, std::vector<int32_t> prompt, int64_t n_ctx, const generation_defaults & d);

}  // namespace sluice::server
