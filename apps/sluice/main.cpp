// sluice: run Mixture-of-Experts models from GGUF files on CPU.
// Every subcommand reports bad input as "sluice: error: ..." and exits with status 1.

#include "commands.h"
#include "util/error.h"
#include "util/mapped_file.h"

#include <cstdio>
#include <exception>
#include <new>

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
    sluice::cli::add_profile_command(app);
    sluice::cli::add_plot_command(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        // --help and --version are 0; every bad flag or value is 1, like every other bad input
        // (CLI11's own codes, 105 and up, would break that contract).
        return app.exit(e) == 0 ? 0 : 1;
    } catch (const sluice::error & e) {
        std::fprintf(stderr, "sluice: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc &) {
        std::fprintf(stderr, "sluice: error: out of memory\n");
        return 1;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "sluice: internal error: %s\n", e.what());
        return 2;
    }
    return 0;
}
