#include "imagebuilder/cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

#include "imagebuilder/cli/output.h"

namespace midwife::imagebuilder::cli {
namespace {

// Redraws at most this often: a terminal does not need 400 updates a second.
constexpr std::chrono::milliseconds kRedrawInterval(100);
constexpr int kBarWidth = 30;

}  // namespace

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputs("\n", stderr);
}

ProgressFn ProgressBar::Callback() {
  if (!enabled_) return {};
  return [this](uint64_t done, uint64_t total) { Draw(done, total); };
}

void ProgressBar::Draw(uint64_t done, uint64_t total) {
  const auto now = std::chrono::steady_clock::now();
  if (done < total && drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  drawn_ = true;
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(fraction * kBarWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kBarWidth, ' ');
  std::fprintf(stderr, "\r%s [%s] %3d%% %s / %s ", label_.c_str(), bar.c_str(),
               static_cast<int>(fraction * 100), HumanBytes(done).c_str(),
               HumanBytes(total).c_str());
  std::fflush(stderr);
}

}  // namespace midwife::imagebuilder::cli
