// The process's MPI connection: initialised once, with helpers that turn MPI's failure modes
// into sluice errors. One thread at a time calls MPI (MPI_THREAD_SERIALIZED: the main thread,
// or the server's scheduler thread); the thread pool never does.
//
// A collective that waits on a rank that stopped or hangs would wait forever (MPI has no
// timeouts): every wait here polls its request and fails after the session's timeout, and
// the CLI then ends every rank with MPI_Abort (abort_ranks_after_error).
#pragma once

#include <mpi.h>

#include <chrono>
#include <memory>
#include <string>

namespace sluice {

class mpi_session {
  public:
    // Initialises MPI unless something else already did (a test's main); then that owner
    // finalizes it. timeout: the longest any collective may wait for the other ranks.
    explicit mpi_session(std::chrono::milliseconds timeout);
    ~mpi_session();
    mpi_session(const mpi_session &)             = delete;
    mpi_session & operator=(const mpi_session &) = delete;

    int      rank() const { return rank_; }
    int      ranks() const { return ranks_; }
    MPI_Comm comm() const { return comm_; }

    // Waits for `req` to finish; throws naming `what` after the timeout. Spins briefly, then
    // yields the core (ranks oversubscribed on one machine share cores with compute threads).
    // `idle`: a wait with no deadline that sleeps between polls (a server's ranks waiting for
    // the next request).
    void wait(MPI_Request & req, const char * what, bool idle = false) const;
    // Throws the MPI error `code` as a sluice error naming `what`.
    void check(int code, const char * what) const;

  private:
    std::chrono::milliseconds timeout_;
    MPI_Comm                  comm_ = MPI_COMM_NULL;  // a duplicate of MPI_COMM_WORLD
    int                       rank_ = 0, ranks_ = 1;
    bool                      owns_init_ = false;
};

// For the CLI's error path: "rank R: " while MPI runs with more than one rank, else "".
std::string mpi_error_prefix();
// For the CLI's error path: when MPI is running, ends every rank of the job with `code`
// (MPI_Abort) so no peer waits for this one; returns when MPI is not running.
void abort_ranks_after_error(int code);

}  // namespace sluice
