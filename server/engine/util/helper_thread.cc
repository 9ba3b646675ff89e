#include "server/engine/util/helper_thread.h"

#include <pthread.h>
#include <sched.h>

#include <utility>

namespace backtest::engine {

struct HelperThread::State {
  pthread_t thread{};
  std::function<void()> task;
#if defined(__linux__)
  cpu_set_t allowed{};
  bool widen = false;
#endif
};

HelperThread::HelperThread() = default;
HelperThread::~HelperThread() { Join(); }

void* HelperThread::Run(void* arg) {
  auto* state = static_cast<State*>(arg);
#if defined(__linux__)
  if (state->widen) pthread_setaffinity_np(pthread_self(), sizeof state->allowed, &state->allowed);
#endif
  state->task();
  return nullptr;
}

bool HelperThread::Start(std::function<void()> task) {
  Join();
  auto state = std::make_unique<State>();
  state->task = std::move(task);
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
#if defined(__linux__)
  const int here = sched_getcpu();
  if (here >= 0 && here < CPU_SETSIZE &&
      sched_getaffinity(0, sizeof state->allowed, &state->allowed) == 0 &&
      CPU_ISSET(here, &state->allowed) && CPU_COUNT(&state->allowed) > 1) {
    cpu_set_t elsewhere = state->allowed;
    CPU_CLR(here, &elsewhere);
    state->widen = pthread_attr_setaffinity_np(&attr, sizeof elsewhere, &elsewhere) == 0;
  }
#endif
  const int rc = pthread_create(&state->thread, &attr, Run, state.get());
  pthread_attr_destroy(&attr);
  if (rc != 0) return false;
  state_ = std::move(state);
  return true;
}

void HelperThread::Join() {
  if (!state_) return;
  pthread_join(state_->thread, nullptr);
  state_.reset();
}

}  // namespace backtest::engine
