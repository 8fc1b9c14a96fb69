#ifndef MIDWIFE_IMAGEBUILDER_CLI_PROGRESS_BAR_H_
#define MIDWIFE_IMAGEBUILDER_CLI_PROGRESS_BAR_H_

// A one-line progress bar on stderr for long imports and verifies, drawn only
// when stderr is a terminal: logs and scripts see nothing of it. Single
// thread: the library calls the ProgressFn on the caller's thread.

#include <chrono>
#include <memory>
#include <string>

#include "imagebuilder/byte_source.h"

namespace midwife::imagebuilder::cli {

class ProgressBar {
 public:
  // Draws only if stderr is a terminal.
  explicit ProgressBar(std::string label);
  // Ends the line if anything was drawn, so that a following message (an
  // error, a summary) starts on its own line.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // The callback to pass in Options; empty when not drawing. Valid while this
  // object lives.
  ProgressFn Callback();

 private:
  void Draw(uint64_t done, uint64_t total);

  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace midwife::imagebuilder::cli

#endif  // MIDWIFE_IMAGEBUILDER_CLI_PROGRESS_BAR_H_
