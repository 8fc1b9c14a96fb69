#ifndef MIDWIFE_CORE_OPEN_FILE_LIMIT_H_
#define MIDWIFE_CORE_OPEN_FILE_LIMIT_H_

#include <cstdint>

namespace midwife {

// Raises this process's soft limit on open files to its hard limit and
// returns the soft limit now in effect. A daemon's usual soft limit (1024)
// is far below the connections a boot storm opens (the HTTP cap is 10000):
// past it, accept() fails instead of the cap answering. nginx does the same
// with worker_rlimit_nofile; systemd units usually set the hard limit high.
uint64_t RaiseOpenFileLimit();

}  // namespace midwife

#endif  // MIDWIFE_CORE_OPEN_FILE_LIMIT_H_
