// The LISTEN side of cross-node announcements (store/notifier.hpp): one libpq connection, a poll
// loop over its socket and a stop pipe, reconnection with a resync call to every handler.
#include "store/notifier.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>

#include "base/log.hpp"

namespace cn::store {

struct Notifier::Conn {
  PGconn* pg = nullptr;
  ~Conn() {
    if (pg) PQfinish(pg);
  }
};

Notifier::Notifier(std::string url) : url_(std::move(url)) {}

Notifier::~Notifier() { stop(); }

void Notifier::on(std::string topic, Handler h) { handlers_[std::move(topic)] = std::move(h); }

Status Notifier::connect() {
  auto c = std::make_unique<Conn>();
  c->pg = PQconnectdb(url_.c_str());
  if (PQstatus(c->pg) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c->pg);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return Status(Code::unavailable, "notifier: cannot connect to PostgreSQL: " + msg);
  }
  std::string listen = std::string("LISTEN ") + kChannel;
  PGresult* r = PQexec(c->pg, listen.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) return Status(Code::unavailable, std::string("notifier: LISTEN failed: ") + PQerrorMessage(c->pg));
  conn_ = std::move(c);
  return {};
}

Status Notifier::start() {
  if (auto st = connect(); !st.ok()) return st;
  if (::pipe(wake_) != 0) return Status(Code::internal, "notifier: pipe failed");
  thread_ = std::thread([this] { loop(); });
  return {};
}

void Notifier::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_[1] >= 0) {
    char b = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &b, 1);
  }
  if (thread_.joinable()) thread_.join();
  conn_.reset();
  for (int& fd : wake_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

void Notifier::dispatch(std::string_view payload) {
  auto colon = payload.find(':');
  auto topic = payload.substr(0, colon);
  auto it = handlers_.find(std::string(topic));
  if (it == handlers_.end()) return;
  delivered_.fetch_add(1);
  it->second(colon == std::string_view::npos ? std::string_view() : payload.substr(colon + 1));
}

void Notifier::loop() {
  while (!stopping_.load()) {
    if (!conn_) {
      if (auto st = connect(); !st.ok()) {
        pollfd p{wake_[0], POLLIN, 0};
        ::poll(&p, 1, 500);
        continue;
      }
      reconnects_.fetch_add(1);
      spdlog::info("notifier: listening again after a lost connection");
      for (auto& [topic, h] : handlers_) h({});
    }
    pollfd fds[2] = {{PQsocket(conn_->pg), POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = ::poll(fds, 2, 1000);
    if (n < 0 || fds[1].revents) continue;
    if (n == 0) continue;
    if (!PQconsumeInput(conn_->pg)) {
      spdlog::warn("notifier: connection lost: {}", PQerrorMessage(conn_->pg));
      conn_.reset();
      continue;
    }
    while (PGnotify* note = PQnotifies(conn_->pg)) {
      dispatch(note->extra ? std::string_view(note->extra) : std::string_view());
      PQfreemem(note);
    }
  }
}

}  // namespace cn::store
