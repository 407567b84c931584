// The entry points of aprc's subcommands (one file each).
#pragma once

namespace aprc::cli {
class Args;
}

namespace aprc {

int cmd_version(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_detokenize(int argc, char** argv);
int cmd_compile(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_inspect(int argc, char** argv);
int cmd_import(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_demo(int argc, char** argv);

// `aprc verify MODEL --report ...` on the command's parsed flags (cmd_verify_report.cpp).
int verify_report(const cli::Args& args);

}  // namespace aprc
