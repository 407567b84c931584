#include "aprc/error.h"
#include "aprc/tokenizer.h"

namespace aprc {

const char* const kQwen25DefaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

namespace {

// Undoes the escapes of a Jinja string literal (\n, \t, \', \", \\).
std::string unescape_jinja(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char e = s[++i];
    out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
  }
  return out;
}

}  // namespace

std::optional<std::string> default_system_prompt_of(std::string_view t) {
  // Qwen2.5 (and Qwen1.5, Qwen2) write the default as one literal in the branch taken when the
  // first message is not a system message:
  //   {{- '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n' }}
  // while the branch that copies the user's system message concatenates: '...system\n' + messages...
  static constexpr std::string_view kOpen = "<|im_start|>system\\n", kClose = "<|im_end|>";
  for (size_t at = t.find(kOpen); at != std::string_view::npos; at = t.find(kOpen, at + 1)) {
    if (at == 0 || (t[at - 1] != '\'' && t[at - 1] != '"')) continue;
    char quote = t[at - 1];
    size_t begin = at + kOpen.size();
    size_t end = t.find(kClose, begin);
    if (end == std::string_view::npos) break;
    std::string_view body = t.substr(begin, end - begin);
    // A literal only: a quote of the same kind inside would end it (an unescaped one).
    bool literal = !body.empty();
    for (size_t i = 0; i < body.size() && literal; ++i) {
      if (body[i] == '\\') ++i;
      else if (body[i] == quote) literal = false;
    }
    if (literal) return unescape_jinja(body);
  }
  return std::nullopt;
}

ChatTemplate::ChatTemplate(const TokenizerData& data)
    : default_system_(data.chat_template.empty() ? std::optional<std::string>(kQwen25DefaultSystemPrompt)
                                                 : default_system_prompt_of(data.chat_template)) {}

std::string ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  std::string out;
  auto turn = [&](std::string_view role, std::string_view content) {
    out += "<|im_start|>";
    out += role;
    out += '\n';
    out += content;
    out += "<|im_end|>\n";
  };
  if ((messages.empty() || messages.front().role != "system") && default_system_) turn("system", *default_system_);
  for (const ChatMessage& m : messages) {
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
      throw_bad_input("chat template: unknown role '" + m.role + "' (expected system, user or assistant)");
    turn(m.role, m.content);
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace aprc
