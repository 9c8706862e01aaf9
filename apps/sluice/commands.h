// The sluice CLI: one function per subcommand registers its flags and its action.
#pragma once

#include <CLI/CLI.hpp>

namespace sluice::cli {

void add_info_command(CLI::App & app);
void add_run_command(CLI::App & app);
void add_logits_command(CLI::App & app);
void add_quantize_command(CLI::App & app);
void add_synth_command(CLI::App & app);
void add_bench_command(CLI::App & app);
void add_perplexity_command(CLI::App & app);
void add_tokenize_commands(CLI::App & app);  // tokenize, detokenize
void add_template_command(CLI::App & app);
void add_serve_command(CLI::App & app);
void add_bench_serve_command(CLI::App & app);
void add_calibrate_command(CLI::App & app);
void add_trace_command(CLI::App & app);
void add_simulate_command(CLI::App & app);
void add_prune_command(CLI::App & app);
void add_shard_command(CLI::App & app);
void add_pack_experts_command(CLI::App & app);
void add_profile_command(CLI::App & app);
void add_plot_command(CLI::App & app);

}  // namespace sluice::cli
