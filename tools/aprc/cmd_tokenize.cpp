// aprc tokenize MODEL TEXT and aprc detokenize MODEL IDS: the model's own tokenizer from the
// command line. MODEL is whatever the tool's load_command_tokenizer reads: in aprc, anything
// load_model reads (GGUF, APR, a Hugging Face folder), a tokenizer.json or a plan; in aprc-rt, a plan.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "../cli/args.h"
#include "aprc/error.h"
#include "aprc/tokenizer.h"
#include "commands.h"
#include "tokenizer_source.h"

namespace aprc {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_bad_input(path + ": cannot open the file");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

int cmd_tokenize(int argc, char** argv) {
  cli::Args args("tokenize", argc, argv, {"file"}, {"json", "no-special", "stats", "help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc tokenize MODEL (TEXT | --file PATH) [--json] [--no-special] [--stats]\n"
        "Prints the token ids of TEXT, comma-separated ({\"ids\": [...]} with --json).\n"
        "  --no-special  control tokens (<|im_start|>, ...) in the text stay plain text\n"
        "  --stats       print bytes, tokens and encoding speed to stderr\n");
    return 0;
  }
  const bool from_file = args.value("file").has_value();
  args.expect_positionals(from_file ? 1 : 2, from_file ? 1 : 2);
  Tokenizer tok = load_command_tokenizer(args.positional(0, "MODEL"));
  const std::string text = from_file ? read_file(*args.value("file")) : args.positional(1, "TEXT");

  auto start = std::chrono::steady_clock::now();
  std::vector<int32_t> ids = tok.encode(text, !args.flag("no-special"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  if (args.flag("json")) {
    std::printf("%s\n", nlohmann::json{{"ids", ids}}.dump().c_str());
  } else {
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) line += ',';
      line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
  }
  if (args.flag("stats"))
    std::fprintf(stderr, "%zu bytes -> %zu tokens in %.1f ms (%.1f MB/s)\n", text.size(), ids.size(), seconds * 1e3,
                 seconds > 0 ? text.size() / seconds / 1e6 : 0.0);
  return 0;
}

int cmd_detokenize(int argc, char** argv) {
  cli::Args args("detokenize", argc, argv, {}, {"json", "skip-special", "help"});
  if (args.flag("help")) {
    std::printf(
        "usage: aprc detokenize MODEL IDS [--json] [--skip-special]\n"
        "Prints the text of comma-separated token ids such as 9707,11,1879 ({\"text\": ...} with --json).\n"
        "  --skip-special  leave control tokens (<|im_end|>, ...) out\n");
    return 0;
  }
  args.expect_positionals(2, 2);
  const std::string& path = args.positional(0, "MODEL");
  std::vector<int64_t> wide = cli::parse_id_list(args.positional(1, "IDS"), "aprc detokenize");
  Tokenizer tok = load_command_tokenizer(path);
  std::vector<int32_t> ids;
  for (int64_t id : wide) {
    if (id >= tok.size())
      throw_bad_input(path + ": token id " + std::to_string(id) + " is out of range (the tokenizer has " +
                      std::to_string(tok.size()) + " tokens)");
    ids.push_back(static_cast<int32_t>(id));
  }
  std::string text = tok.decode(ids, args.flag("skip-special"));
  if (args.flag("json"))
    std::printf("%s\n", nlohmann::json{{"text", text}}.dump().c_str());
  else
    std::printf("%s\n", text.c_str());
  return 0;
}

}  // namespace aprc
