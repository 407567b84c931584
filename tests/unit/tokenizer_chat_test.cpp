// The ChatML template and its default system prompt, as Qwen2.5's Jinja template renders them.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "aprc/error.h"
#include "tokenizer_test_util.h"

namespace aprc {
namespace {

// The system-prompt branch of a Qwen2.5-style template (tools branch elided): the default is the
// literal in the `else` branch.
const char* kQwen25Style =
    "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are Qwen, created by Alibaba Cloud. "
    "You are a helpful assistant.' }}\n    {%- endif %}\n{%- else %}\n    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n{%- endif %}\n";

TEST(ChatTemplate, DefaultSystemPromptComesFromTheModelsTemplate) {
  EXPECT_EQ(default_system_prompt_of(kQwen25Style), std::string(kQwen25DefaultSystemPrompt));
  // Qwen1.5/Qwen2 style, double quotes and an escaped quote.
  EXPECT_EQ(default_system_prompt_of(R"({{ "<|im_start|>system\nYou're \"kind\".<|im_end|>\n" }})"),
            std::string(R"(You're "kind".)"));
  EXPECT_EQ(default_system_prompt_of("{{ '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}"), std::nullopt);
  TokenizerData d;
  EXPECT_EQ(ChatTemplate(d).default_system(), std::string(kQwen25DefaultSystemPrompt));  // no template: Qwen2.5's
  d.chat_template = kQwen25Style;
  EXPECT_EQ(ChatTemplate(d).default_system(), std::string(kQwen25DefaultSystemPrompt));
}

TEST(ChatTemplate, Qwen3TemplateHasNoDefaultSystemPrompt) {
  APRC_REQUIRE_FIXTURE("qwen-tokenizer/tokenizer_config.json");
  std::ifstream in(test::fixtures_dir() + "/qwen-tokenizer/tokenizer_config.json");
  auto config = nlohmann::json::parse(in);
  TokenizerData d;
  d.chat_template = config["chat_template"].get<std::string>();
  EXPECT_EQ(ChatTemplate(d).default_system(), std::nullopt);
  ChatMessage user{"user", "hi"};
  EXPECT_EQ(ChatTemplate(d).apply({&user, 1}), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, RendersTurnsAsChatML) {
  ChatTemplate t{std::optional<std::string>(kQwen25DefaultSystemPrompt)};
  std::vector<ChatMessage> chat = {{"user", "What is 2+2?"}, {"assistant", "4"}, {"user", "And 3+3?"}};
  EXPECT_EQ(t.apply(chat),
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
            "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n");
  std::vector<ChatMessage> with_system = {{"system", "Be brief."}, {"user", "hi"}};
  EXPECT_EQ(t.apply(with_system, /*add_generation_prompt=*/false),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
  std::vector<ChatMessage> bad = {{"tool", "x"}};
  EXPECT_THROW(t.apply(bad), Error);
}

TEST(ChatTemplate, EncodesToQwensControlTokens) {
  APRC_REQUIRE_QWEN_TOKENIZER();
  const Tokenizer& tok = *test::qwen_tokenizer();
  ChatTemplate t{std::optional<std::string>{}};
  ChatMessage user{"user", "hi"};
  // The same ids as the fixture case "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n".
  EXPECT_EQ(tok.encode(t.apply({&user, 1})), (std::vector<int32_t>{151644, 872, 198, 6023, 151645, 198, 151644, 77091, 198}));
  // With the default system prompt: <|im_start|> "system" "\n" ... <|im_end|> "\n" first.
  auto ids = tok.encode(ChatTemplate(TokenizerData{}).apply({&user, 1}));
  ASSERT_GT(ids.size(), 9u);
  EXPECT_EQ(ids[0], 151644);
  EXPECT_EQ(tok.decode(std::vector<int32_t>(ids.begin() + 1, ids.begin() + 3)), "system\n");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 2);
}

}  // namespace
}  // namespace aprc
