// What `sluice calibrate` measures on sample text, saved as a small GGUF file next to the
// model: how often each expert of each layer was chosen (static popularity: the frequency
// predictor, the popularity quota, pinning) and, per MoE layer, a linear map from the
// residual stream entering the previous block's FFN to this layer's router logits, fitted
// by least squares (the pregate predictor).
#pragma once

#include "kernels/kernels.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct calibration {
    std::string model_name;  // the model's file name, for the error when they do not match
    int64_t     tokens   = 0;
    int64_t     n_embd   = 0;
    int         n_expert = 0;
    // [layer][expert]: how many tokens chose the expert (empty rows for dense blocks).
    std::vector<std::vector<double>> counts;
    // [layer]: n_expert x n_embd row-major, maps the residual stream entering the previous
    // block's FFN (RMS-normalised, without weights) to this layer's router logits; empty
    // when not fitted (first layer, dense blocks).
    std::vector<std::vector<float>> pregate;
    std::vector<std::vector<float>> pregate_bias;  // [layer][expert]

    // How many experts of each layer carry 90% of its routing (for the popularity quota).
    std::vector<double> spread() const;
    // Experts of `layer` by popularity, most chosen first.
    std::vector<int32_t> by_popularity(int layer) const;
    // The pregate map of `layer` as a matrix the kernels can run.
    weight_matrix pregate_matrix(int layer) const;

    void save(const std::string & path) const;
    // Throws naming the file when it is not a calibration of a model of this geometry.
    static calibration load(const std::string & path, int n_layer, int n_expert, int64_t n_embd);
};

}  // namespace sluice
