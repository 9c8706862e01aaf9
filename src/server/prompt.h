// From a validated request to a job for the scheduler: the prompt as token ids (chat
// messages rendered through the model's chat template), then the checks that need the model:
// ids inside the vocabulary, the prompt shorter than the context, max_tokens fitting in it.
#pragma once

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "server/request.h"
#include "server/scheduler.h"

#include <string>
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

    std::vector<int32_t> chat(const nlohmann::ordered_json & messages) const;
    std::vector<int32_t> completion(const completion_request & r) const;

    const std::string & template_origin() const { return origin_; }

  private:
    const engine &    engine_;
    const tokenizer & tok_;
    std::string       origin_;
    chat_template     template_;
};

// Throws api_error (400) when the prompt does not fit in n_ctx or max_tokens is out of range.
job make_job(const generation_request & g, std::vector<int32_t> prompt, int64_t n_ctx, const generation_defaults & d);

}  // namespace sluice::server
