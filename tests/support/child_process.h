#ifndef MIDWIFE_TESTS_SUPPORT_CHILD_PROCESS_H_
#define MIDWIFE_TESTS_SUPPORT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace midwife::testing {

// Absolute path of a project binary: $MIDWIFE_BIN_DIR/<name> (set by ctest),
// else <name> in the folder of the running executable.
std::string BinaryPath(const std::string& name);

// A fresh folder under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process (a real server or CLI) with stdout and stderr sent to a
// log file. The destructor kills it (SIGKILL) if it still runs, so a failing
// test leaves nothing behind.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Sends `signal`, waits for the exit, returns the wait status.
  int Stop(int signal);
  // True if it already exited; then *status holds the wait status.
  bool Exited(int* status);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::string log_file_;
};

// Waits until `path` exists and is non-empty, or `timeout` passes, or
// `child` exits. Returns its contents, or "" on timeout/exit.
std::string WaitForFile(const std::string& path, std::chrono::milliseconds timeout,
                        ChildProcess* child = nullptr);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs a command to completion (no shell), capturing its output.
CommandResult RunCommand(const std::vector<std::string>& argv);

}  // namespace midwife::testing

#endif  // MIDWIFE_TESTS_SUPPORT_CHILD_PROCESS_H_
