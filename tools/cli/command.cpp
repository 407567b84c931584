#include "command.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "aprc/error.h"

namespace aprc::cli {
namespace {

void print_usage(const char* program, std::span<const Command> commands) {
  std::fprintf(stderr, "usage: %s COMMAND [ARGS...]\n\ncommands:\n", program);
  for (const Command& c : commands) std::fprintf(stderr, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(stderr, "\n'%s COMMAND --help' describes one command.\n", program);
}

}  // namespace

int run_main(const char* program, int argc, char** argv, std::span<const Command> commands) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage(program, commands);
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : commands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const Error& e) {
      std::fprintf(stderr, "%s: error: %s\n", program, e.what());
      return e.exit_code();
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "%s: error: out of memory\n", program);
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: internal error: %s\n", program, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "%s: error: unknown command '%s'\n\n", program, argv[1]);
  print_usage(program, commands);
  return 2;
}

}  // namespace aprc::cli
