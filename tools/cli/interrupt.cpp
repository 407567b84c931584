#include "interrupt.h"

#include <csignal>

namespace aprc::cli {
namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) { g_interrupted.store(true); }

}  // namespace

const std::atomic<bool>& catch_interrupt() {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  action.sa_flags = SA_RESETHAND;  // the second Ctrl-C gets the default action
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  return g_interrupted;
}

}  // namespace aprc::cli
