// Compaction: a long context replaced by a summary the model reads instead.
//
// A summary is made by the turn's model with the one prompt below; the built-in continuum-local
// model (and a server with no upstream) makes a deterministic summary instead, so that compaction
// works offline. The summary is sealed (base/sealer.hpp) for the project into a `compaction`
// item: a client may hold it and send it back (POST /v1/responses/compact is stateless), but
// cannot read or forge it. Nothing stored is deleted: compaction changes what the model sees
// (context.cpp starts a context at the last compaction in its history).
//
// Two ways in: Runtime::compact (POST /v1/responses/compact: the user messages of the context
// and one compaction item), and automatic compaction in the run loop when a turn asked for it
// (context_management: compact_threshold) and its context is over the threshold.
#include "runtime/impl.hpp"

#include "base/ids.hpp"
#include "base/log.hpp"
#include "base/sealer.hpp"
#include "runtime/output_sink.hpp"
#include "wire/items.hpp"

namespace cn::runtime {

namespace {

// The one prompt every summary is made with.
constexpr const char* kCompactionPrompt =
    "You compact a conversation so that it can go on without its earlier messages. Write a summary "
    "that keeps everything needed to continue: the user's goals and requests, facts and numbers "
    "given, decisions made, answers already given, tool calls made and their results, and what is "
    "still open. Write it as plain prose and lists, in the conversation's language, without "
    "commentary; do not address the user.";

constexpr size_t kLocalLineChars = 240;  // per item in the built-in model's summary

// The built-in model's summary: each message and call, in order, cut to a line.
std::string local_summary(const std::vector<ItemPtr>& items) {
  std::string out = "Summary of " + std::to_string(items.size()) + " earlier items:\n";
  for (const auto& it : items) {
    std::string who = it->type == ItemType::message ? it->role : std::string(item_type_name(it->type));
    std::string text = it->text();
    for (auto& c : text)
      if (c == '\n') c = ' ';
    if (text.size() > kLocalLineChars) {
      size_t cut = kLocalLineChars;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
      text = text.substr(0, cut) + "...";
    }
    out += "- " + who + ": " + text + "\n";
  }
  return out;
}

}  // namespace

awaitable<Result<Compacted>> Runtime::Impl::summarize(const std::string& project, const std::string& model,
                                                      const std::vector<ItemPtr>& items) {
  const Sealer* sealer = Sealer::installed();
  if (!sealer) co_return Status(Code::unavailable, "Compaction is not available on this server (no sealing key).");
  Compacted out;
  std::string summary;
  if (model::Registry::is_local_name(model) || !models.has_upstream()) {
    summary = local_summary(items);
  } else {
    auto prov = models.route(model);
    if (!prov.ok()) co_return prov.status();
    model::ModelRequest mr;
    mr.model = model;
    mr.instructions = kCompactionPrompt;
    mr.context = items;
    Item ask;
    ask.id = new_id("msg");
    ask.role = "user";
    ask.content.push_back({"input_text", "Write the summary of the conversation above now."});
    wire::finalize_wire(ask);
    mr.context.push_back(std::make_shared<const Item>(std::move(ask)));
    model::CollectingSink sink;
    auto cancel = std::make_shared<http::CancelToken>();
    auto res = co_await (*prov)->generate(mr, sink, cancel);
    if (!res.ok()) co_return Status(res.status().code(), "The summary could not be made: " + res.status().message());
    if (sink.text.empty()) co_return Status(Code::unavailable, "The model returned an empty summary.");
    summary = std::move(sink.text);
    out.usage = res->usage;
  }
  Item c;
  c.id = new_id("cmp");
  c.type = ItemType::compaction;
  c.arguments = sealer->seal(project, summary);
  c.output = std::move(summary);
  c.server_label = project;
  wire::finalize_wire(c);
  out.item = std::make_shared<const Item>(std::move(c));
  co_return out;
}

awaitable<void> Runtime::Impl::compact_context(Run& run, Turn& t, OutputSink& sink, model::ModelRequest& mr, Usage& usage) {
  // What this turn continues (the memory block and the history) is summarized; its new input
  // stays as it is, after the summary.
  size_t keep = std::min(t.inputs.size(), mr.context.size());
  size_t upto = mr.context.size() - keep;
  if (upto == 0) co_return;
  std::vector<ItemPtr> earlier(mr.context.begin(), mr.context.begin() + static_cast<long>(upto));
  if (earlier.size() == 1 && earlier[0]->type == ItemType::compaction) co_return;  // already compacted
  auto made = co_await summarize(run.project_id(), mr.model, earlier);
  if (!made.ok()) {
    // A context that cannot be compacted is sent whole (the window still applies upstream).
    spdlog::warn("response {}: compaction failed: {}", run.id(), made.status().message());
    co_return;
  }
  sink.compaction(*made->item);
  usage.input_tokens += made->usage.input_tokens;
  usage.output_tokens += made->usage.output_tokens;
  std::vector<ItemPtr> next{made->item};
  next.insert(next.end(), mr.context.begin() + static_cast<long>(upto), mr.context.end());
  mr.context = std::move(next);
}

awaitable<Result<std::string>> Runtime::compact(CreateParams params) {
  auto& im = *impl_;
  const std::string project = params.scope.project, model = params.model;
  auto turn = co_await im.assemble_only(std::move(params));
  if (!turn.ok()) co_return turn.status();
  std::vector<ItemPtr> items = std::move((*turn)->context);
  const auto& used = (*turn)->memories_used;
  if (used && !used->empty() && !items.empty()) items.erase(items.begin());  // the memory block
  if (items.empty()) co_return Status(Code::invalid_argument, "There is nothing to compact: send input or previous_response_id.", "input");
  auto made = co_await im.summarize(project, model, items);
  if (!made.ok()) co_return made.status();
  json::array output;
  for (const auto& it : items)
    if (it->type == ItemType::message && it->role == "user") output.push_back(json::parse(it->wire));
  output.push_back(json::parse(made->item->wire));
  json::object o{{"id", new_id("resp")},
                 {"object", "response.compaction"},
                 {"created_at", im.clock.now_seconds()},
                 {"output", std::move(output)},
                 {"usage", usage_json(made->usage)}};
  co_return json::serialize(o);
}

}  // namespace cn::runtime
