#include "parallel/mpi_session.h"

#include "util/error.h"

#include <thread>

namespace sluice {

namespace {

bool mpi_running() {
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    return initialized != 0 && finalized == 0;
}

}  // namespace

mpi_session::mpi_session(std::chrono::milliseconds timeout) : timeout_(timeout) {
    if (!mpi_running()) {
        int provided = 0;
        if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS) {
            fail("MPI could not start (MPI_Init_thread failed); run under mpirun");
        }
        if (provided < MPI_THREAD_SERIALIZED) {
            fail("this MPI library cannot be called from more than one thread (MPI_THREAD_SERIALIZED)");
        }
        owns_init_ = true;
    }
    // Errors come back as codes (turned into sluice errors) instead of aborting inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "duplicating MPI_COMM_WORLD");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &ranks_);
}

mpi_session::~mpi_session() {
    if (!mpi_running()) {
        return;
    }
    // After an error the CLI aborts every rank; finalizing here could wait for a peer that
    // is stuck in a collective.
    if (std::uncaught_exceptions() > 0) {
        return;
    }
    MPI_Comm_free(&comm_);
    if (owns_init_) {
        MPI_Finalize();
    }
}

void mpi_session::check(int code, const char * what) const {
    if (code == MPI_SUCCESS) {
        return;
    }
    char text[MPI_MAX_ERROR_STRING];
    int  len = 0;
    MPI_Error_string(code, text, &len);
    fail("MPI failed while {}: {}", what, std::string(text, static_cast<size_t>(len)));
}

void mpi_session::wait(MPI_Request & req, const char * what, bool idle) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (uint64_t spins = 0;; ++spins) {
        int done = 0;
        check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
        if (done != 0) {
            return;
        }
        if (spins < 256) {
            continue;  // a layer's exchange usually lands within microseconds
        }
        if (idle) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            continue;
        }
        std::this_thread::yield();
        if (spins % 1024 == 0 && std::chrono::steady_clock::now() > deadline) {
            fail(
                "the other ranks did not answer within {} s while {} (a rank stopped, hangs or runs something "
                "else; see --ep-timeout)",
                timeout_.count() / 1000.0, what);
        }
    }
}

std::string mpi_error_prefix() {
    if (!mpi_running()) {
        return {};
    }
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    return ranks > 1 ? "rank " + std::to_string(rank) + ": " : std::string();
}

void abort_ranks_after_error(int code) {
    if (!mpi_running()) {
        return;
    }
    int ranks = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (ranks > 1) {
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    MPI_Finalize();  // one rank: nobody waits for it; exit cleanly
}

}  // namespace sluice
