// Pieces the reader kinds share; not part of the loader's interface.
#pragma once

#include "experts/io/loader.h"

#include <memory>
#include <string>
#include <vector>

namespace sluice {

// pread until `r.length` bytes or end of file; returns an error message, empty on success.
std::string read_fully(int fd, const std::string & path, const read_request & r, bool direct);

// Without O_DIRECT, tells the kernel to drop the pages just read so the page cache does not
// hold the model behind the budget's back.
void drop_cached_pages(int fd, const read_request & r, bool direct);

std::unique_ptr<async_reader> make_pread_reader(const std::vector<std::string> & paths, const reader_options & opt);
// nullptr when the kernel refuses io_uring.
std::unique_ptr<async_reader> make_uring_reader(const std::vector<std::string> & paths, const reader_options & opt);

}  // namespace sluice
