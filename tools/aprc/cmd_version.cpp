#include <cstdio>

#include "commands.h"

namespace aprc {

int cmd_version(int, char**) {
  std::printf("aprc 0.1.0\n");
  return 0;
}

}  // namespace aprc
