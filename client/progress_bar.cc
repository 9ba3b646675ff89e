#include "client/progress_bar.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"

namespace backtest::client {

ProgressBar::ProgressBar(bool enabled, std::FILE* out) : enabled_(enabled), out_(out) {}

void ProgressBar::Update(const backtest::v1::Progress& progress) {
  if (!enabled_ || finished_) return;
  const Clock::time_point now = Clock::now();
  if (progress.fraction() > 0 && first_fraction_ == 0) {
    first_fraction_time_ = now;
    first_fraction_ = progress.fraction();
  }
  progress_ = progress;
  has_progress_ = true;
  const bool last = progress.fraction() >= 1 || progress.stage() == "done";
  if (!last && visible_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  Redraw();
}

double ProgressBar::EtaSeconds() const {
  if (progress_.eta_seconds() > 0) return progress_.eta_seconds();
  const double f = progress_.fraction();
  if (first_fraction_ <= 0 || f <= first_fraction_ || f >= 1) return 0;
  // Our own estimate from the rate seen since the first fraction: the server sends none.
  const double elapsed = std::chrono::duration<double>(Clock::now() - first_fraction_time_).count();
  return elapsed * (1 - f) / (f - first_fraction_);
}

std::string ProgressBar::Render(int width) const {
  const double f = std::clamp(progress_.fraction(), 0.0, 1.0);
  std::string tail = absl::StrFormat(" %5.1f%%  %s", f * 100, progress_.stage());
  if (progress_.bars_total() > 0) {
    absl::StrAppend(&tail, "  ", progress_.bars_done(), "/", progress_.bars_total(), " bars");
  }
  const double eta = EtaSeconds();
  if (eta > 0) absl::StrAppend(&tail, "  ETA ", FormatDuration(eta));
  const int room = width - 1 - static_cast<int>(tail.size()) - 2;
  const int bar = std::min(30, room);
  if (bar < 5) return tail.substr(0, std::max(0, width - 1));
  const int filled = static_cast<int>(std::lround(f * bar));
  return absl::StrCat("[", std::string(filled, '#'), std::string(bar - filled, '.'), "]", tail);
}

void ProgressBar::Redraw() {
  if (!enabled_ || finished_ || !has_progress_) return;
  const int width = TerminalWidth();
  std::fprintf(out_, "\r%s\033[K", Render(width).c_str());
  std::fflush(out_);
  visible_ = true;
  last_draw_ = Clock::now();
}

void ProgressBar::Clear() {
  if (!enabled_ || !visible_) return;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
  visible_ = false;
}

void ProgressBar::Finish() {
  Clear();
  finished_ = true;
}

}  // namespace backtest::client
