// The predictor kinds' factories and what they share; make_predictor() picks among them.
#pragma once

#include "experts/predict/predictor.h"

namespace sluice {

std::unique_ptr<expert_predictor> make_cross_layer_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_pregate_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_history_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_frequency_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_oracle_predictor(const predictor_context & ctx);

// Router logits -> the scores experts are ranked by: + router bias, sigmoid where the gate
// uses it, + selection bias.
void score_logits(const moe_gate & g, float * logits, int64_t n, int n_expert);

}  // namespace sluice
