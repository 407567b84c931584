// The entry points of aprc's subcommands (one file each).
#pragma once

namespace aprc {

int cmd_version(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_detokenize(int argc, char** argv);
int cmd_compile(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_import(int argc, char** argv);

}  // namespace aprc
