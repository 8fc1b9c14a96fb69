#include "tests/support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace midwife::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    // A test's child must not outlive the test runner, however it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setpgid(0, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string BinaryPath(const std::string& name) {
  const char* dir = std::getenv("MIDWIFE_BIN_DIR");
  // Tests and benchmarks live beside the binaries they start.
  std::string base = dir != nullptr ? dir : std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  return std::filesystem::absolute(base + "/" + name).string();
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/midwife-test-XXXXXX";
  char* made = ::mkdtemp(pattern.data());
  path_ = made != nullptr ? made : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_file)
    : log_file_(std::move(log_file)) {
  int fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_ = Spawn(argv, fd);
  ::close(fd);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) Stop(SIGKILL);
}

int ChildProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

bool ChildProcess::Exited(int* status) {
  if (pid_ <= 0) return true;
  pid_t r = ::waitpid(pid_, status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return true;
  }
  return false;
}

std::string ChildProcess::Log() const { return ReadAll(log_file_); }

std::string WaitForFile(const std::string& path, std::chrono::milliseconds timeout,
                        ChildProcess* child) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string contents = ReadAll(path);
    if (!contents.empty()) return contents;
    int status = 0;
    if (child != nullptr && child->Exited(&status)) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "";
}

CommandResult RunCommand(const std::vector<std::string>& argv) {
  char path[] = "/tmp/midwife-cmd-XXXXXX";
  int fd = ::mkstemp(path);
  pid_t pid = Spawn(argv, fd);
  ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadAll(path);
  ::unlink(path);
  return result;
}

}  // namespace midwife::testing
