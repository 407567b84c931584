// aprc compile MODEL --emit ir [-o OUT]: the model's aprc module (docs/design.md, "The IR"), printed
// with each op's name. The code generators add the plan outputs here.
#include <cstdio>
#include <fstream>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/ir/builder.h"
#include "aprc/model.h"
#include "commands.h"

namespace aprc {

int cmd_compile(int argc, char** argv) {
  cli::Args args("compile", argc, argv, {"emit", "o"}, {"help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc compile MODEL --emit ir [-o OUT.mlir]\n"
        "Compiles a model file (GGUF, APR, Hugging Face folder).\n"
        "  --emit ir   print the aprc MLIR module (weights by symbol, every op named) to stdout or OUT\n");
    return 0;
  }
  args.expect_positionals(1, 1);
  const std::string emit = args.value_or("emit", "");
  if (emit != "ir")
    throw_bad_input("aprc compile: --emit " + (emit.empty() ? std::string("(missing)") : emit) +
                    ": the outputs are: ir");
  const Model model = load_model(args.positional(0, "MODEL"));
  const std::string text = ir::build_module(model).print();
  if (auto out = args.value("o")) {
    std::ofstream file(*out, std::ios::binary);
    file << text;
    if (!file.flush()) throw_bad_input(*out + ": cannot write the file");
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace aprc
