// The predictor kinds' factories and what they share; make_predictor() picks among them.
#pragma once

#include "experts/predict/predictor.h"

namespace sluice {

std::unique_ptr<expert_predictor> make_cross_layer_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_pregate_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_history_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_frequency_predictor(const predictor_context & ctx);
std::unique_ptr<expert_predictor> make_oracle_predictor(const predictor_context & ctx);

}  // namespace sluice
