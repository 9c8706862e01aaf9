// sluice: run Mixture-of-Experts models from GGUF files on CPU.
// Every subcommand reports bad input as "sluice: error: ..." and exits with status 1.

#include "commands.h"
#include "parallel/mpi_session.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

namespace {

// Prints "sluice: error: ..." (with the rank under mpirun), ends the other ranks of an
// --expert-parallel job so none waits for this one, and exits with `code`.
[[noreturn]] void fail_job(const char * kind, const char * what, int code) {
    std::fprintf(stderr, "sluice: %s: %s%s\n", kind, sluice::mpi_error_prefix().c_str(), what);
    std::fflush(stderr);
    sluice::abort_ranks_after_error(code);
    std::exit(code);
}

}  // namespace

int main(int argc, char ** argv) {
    // A model file that shrinks under a run or a server is an error, not a crash by SIGBUS.
    sluice::report_mapping_faults();
    CLI::App app{"sluice: Mixture-of-Experts inference from GGUF files on CPU", "sluice"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "sluice 0.1.0");
    sluice::cli::add_info_command(app);
    sluice::cli::add_run_command(app);
    sluice::cli::add_logits_command(app);
    sluice::cli::add_quantize_command(app);
    sluice::cli::add_synth_command(app);
    sluice::cli::add_bench_command(app);
    sluice::cli::add_perplexity_command(app);
    sluice::cli::add_tokenize_commands(app);
    sluice::cli::add_template_command(app);
    sluice::cli::add_serve_command(app);
    sluice::cli::add_bench_serve_command(app);
    sluice::cli::add_calibrate_command(app);
    sluice::cli::add_trace_command(app);
    sluice::cli::add_simulate_command(app);
    sluice::cli::add_prune_command(app);
    sluice::cli::add_shard_command(app);
    sluice::cli::add_pack_experts_command(app);
    sluice::cli::add_profile_command(app);
    sluice::cli::add_plot_command(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        // --help and --version are 0; every bad flag or value is 1, like every other bad input
        // (CLI11's own codes, 105 and up, would break that contract).
        return app.exit(e) == 0 ? 0 : 1;
    } catch (const sluice::error & e) {
        fail_job("error", e.what(), 1);
    } catch (const std::bad_alloc &) {
        fail_job("error", "out of memory", 1);
    } catch (const std::exception & e) {
        fail_job("internal error", e.what(), 2);
    }
    return 0;
}
