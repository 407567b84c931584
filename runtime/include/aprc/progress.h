// Progress of long work (compiling kernels, repacking weights), reported by the code that does it
// and shown by the command that asked for it. A null Progress* means nobody is watching.
#pragma once

#include <cstdint>
#include <string_view>

namespace aprc {

class Progress {
 public:
  virtual ~Progress() = default;
  // `done` of `total` units of `stage` are finished ("cpu kernels", 3, 17). Called from the thread
  // doing the work; done == total marks the end of the stage.
  virtual void update(std::string_view stage, int64_t done, int64_t total) = 0;
};

inline void report(Progress* p, std::string_view stage, int64_t done, int64_t total) {
  if (p) p->update(stage, done, total);
}

}  // namespace aprc
