// `continuum eval run`: runs an eval against an agent version on a running server, from a shell
// or a CI job, and exits 0 when its score reaches the bar, 1 below it, 2 on an error.
//
// The data source is --data FILE (a run's data_source as JSON) or, without it, the promotion
// gate's of the alias named (GET /v1/agents/{name}/aliases/{alias}/gate). Its model is set to
// the agent; the run is an ordinary run of the eval, listed with the others. The score is the
// share of items that passed.
#include "app/commands.hpp"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <fstream>
#include <iostream>
#include <sstream>

#include "http/client.hpp"

namespace cn::app {

namespace {

namespace net = boost::asio;
namespace json = boost::json;

struct Api {
  http::Client& client;
  std::string base, key;

  // (Its callers pass named strings: GCC 12 mishandles temporaries in a co_await's expression.)
  net::awaitable<Result<json::value>> call(std::string method, std::string path, std::string body) {
    http::ClientRequest req;
    req.method = std::move(method);
    req.url = base + path;
    req.headers = {{"authorization", "Bearer " + key}, {"content-type", "application/json"}};
    req.body = std::move(body);
    req.timeout = std::chrono::seconds(60);
    auto r = co_await client.call(std::move(req));
    if (!r.ok()) co_return r.status();
    boost::system::error_code ec;
    auto v = json::parse(r->body, ec);
    if (r->status != 200) {
      std::string msg = !ec && v.is_object() && v.as_object().contains("error") ? json::serialize(v.as_object().at("error")) : r->body;
      co_return Status(Code::unavailable, std::to_string(r->status) + " from " + path + ": " + msg);
    }
    if (ec) co_return Status(Code::internal, "the server's answer to " + path + " is not JSON");
    co_return v;
  }
};

net::awaitable<int> run(EvalFlags f, http::Client& client) {
  Api api{client, f.url, f.key};
  std::string name = f.agent.substr(0, f.agent.find('@'));
  std::string alias = f.agent.find('@') == std::string::npos ? "latest" : f.agent.substr(f.agent.find('@') + 1);
  json::object ds;
  if (!f.data.empty()) {
    std::ifstream in(f.data);
    std::stringstream text;
    text << in.rdbuf();
    boost::system::error_code ec;
    auto v = json::parse(text.str(), ec);
    if (!in || ec || !v.is_object()) {
      std::cerr << "eval run: " << f.data << " is not a JSON object (a run's data_source)\n";
      co_return 2;
    }
    ds = v.as_object();
  } else {
    std::string get = "GET", path = "/v1/agents/" + name + "/aliases/" + alias + "/gate", none;
    auto gate = co_await api.call(get, path, none);
    if (!gate.ok()) {
      std::cerr << "eval run: no --data, and the alias's gate could not be read: " << gate.status().message() << "\n";
      co_return 2;
    }
    ds = gate->as_object().at("data_source").as_object();
  }
  ds["model"] = "agent:" + f.agent;
  json::object body{{"name", "continuum eval run: " + f.agent}, {"data_source", ds}, {"metadata", json::object{{"source", "cli"}}}};
  std::string post = "POST", runs = "/v1/evals/" + f.eval + "/runs", text = json::serialize(body);
  auto created = co_await api.call(post, runs, text);
  if (!created.ok()) {
    std::cerr << "eval run: " << created.status().message() << "\n";
    co_return 2;
  }
  std::string id(created->as_object().at("id").as_string());
  auto ex = co_await net::this_coro::executor;
  net::steady_timer timer(ex);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(f.timeout_seconds);
  json::object run;
  for (;;) {
    std::string get = "GET", path = "/v1/evals/" + f.eval + "/runs/" + id, none;
    auto got = co_await api.call(get, path, none);
    if (!got.ok()) {
      std::cerr << "eval run: " << got.status().message() << "\n";
      co_return 2;
    }
    run = got->as_object();
    if (run.at("status") != "queued" && run.at("status") != "in_progress") break;
    if (std::chrono::steady_clock::now() > until) {
      std::cerr << "eval run: run " << id << " did not finish within " << f.timeout_seconds << " s\n";
      co_return 2;
    }
    timer.expires_after(std::chrono::milliseconds(200));
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  }
  const auto& counts = run.at("result_counts").as_object();
  int64_t total = counts.at("total").as_int64(), passed = counts.at("passed").as_int64();
  double score = total ? static_cast<double>(passed) / static_cast<double>(total) : 0.0;
  bool ok = run.at("status") == "completed" && score + 1e-12 >= f.min_score;
  json::object out{{"run_id", id}, {"eval_id", f.eval}, {"agent", f.agent}, {"status", run.at("status")}, {"score", score},
                   {"min_score", f.min_score}, {"passed", ok}, {"result_counts", counts},
                   {"per_testing_criteria_results", run.at("per_testing_criteria_results")}};
  std::cout << json::serialize(out) << "\n";
  co_return ok ? 0 : 1;
}

}  // namespace

int eval_run(const EvalFlags& flags) {
  if (flags.eval.empty() || flags.agent.empty()) {
    std::cerr << "eval run: --eval and --agent are required\n";
    return 2;
  }
  if (flags.key.empty()) {
    std::cerr << "eval run: no key: pass --key or set CONTINUUM_API_KEY\n";
    return 2;
  }
  net::io_context io;
  http::Client client;
  int code = 2;
  net::co_spawn(io, run(flags, client), [&code](std::exception_ptr e, int c) {
    code = e ? 2 : c;
  });
  io.run();
  return code;
}

}  // namespace cn::app
