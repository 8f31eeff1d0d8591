// The server's WebSocket connection (see server.hpp: Upgrade, WebSocket) over a plain or TLS
// stream, with Beast's websocket stream. Internal to http/: included by server.cpp only.
//
// One read and one write may be in flight at once (Beast's rule): reads are the handler's
// receive(); writes go through a queue written out by whichever send() found it idle, so
// concurrent senders (a socket's lanes) never overlap writes. All on the connection's strand.
#pragma once

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>
#include <memory>
#include <unordered_map>

#include "http/server.hpp"

namespace cn::http {

template <typename S>
class WsConnection final : public WebSocket, public Upgrade {
 public:
  WsConnection(S& stream, boost::beast::http::request<boost::beast::http::string_body>& msg, const ServerOptions& opts)
      : ws_(stream), msg_(msg), opts_(opts) {}
  ~WsConnection() override { *alive_ = false; }

  awaitable<WebSocket*> accept() override {
    namespace websocket = boost::beast::websocket;
    if (accepted_) co_return this;
    boost::beast::get_lowest_layer(ws_).expires_never();  // the websocket keeps its own timers
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(30);
    t.idle_timeout = opts_.ws_idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(opts_.ws_max_message_bytes);
    ws_.auto_fragment(false);
    auto [ec] = co_await ws_.async_accept(msg_, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return nullptr;
    msg_ = {};  // the handshake's request is no longer needed (the handler has its Request)
    accepted_ = true;
    open_ = true;
    co_return this;
  }

  awaitable<std::optional<std::string>> receive() override {
    if (!open_) co_return std::nullopt;
    boost::beast::flat_buffer buf;
    auto [ec, n] = co_await ws_.async_read(buf, boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) {
      open_ = false;
      co_return std::nullopt;
    }
    co_return boost::beast::buffers_to_string(buf.data());
  }

  awaitable<Sent> send(std::string message, uint32_t lane, bool force) override {
    if (!open_ || close_code_) co_return Sent::closed;
    if (queued_bytes_ + message.size() > opts_.ws_max_queued_bytes) {
      // A client that does not read is cut, not buffered for.
      cut("the client is not reading its messages: over " + std::to_string(opts_.ws_max_queued_bytes) + " bytes queued");
      if (!writing_) co_await do_close();  // otherwise the writer closes once its write is out
      co_return Sent::closed;
    }
    if (lane != 0) {
      size_t& mine = lane_bytes_[lane];
      // (A message alone may be larger than the bound: it waits behind nothing of its lane.)
      if (!force && mine > 0 && mine + message.size() > opts_.ws_max_lane_bytes) co_return Sent::lane_full;
      mine += message.size();
    }
    queued_bytes_ += message.size();
    queue_.push_back({std::move(message), lane});
    if (writing_) co_return open_ ? Sent::ok : Sent::closed;
    writing_ = true;
    while (!queue_.empty() && open_) {
      Queued m = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= m.text.size();
      if (m.lane != 0) {
        auto it = lane_bytes_.find(m.lane);
        if (it != lane_bytes_.end() && (it->second -= m.text.size()) == 0) lane_bytes_.erase(it);
      }
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(boost::asio::buffer(m.text), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) open_ = false;
    }
    writing_ = false;
    if (open_ && close_code_) co_await do_close();
    co_return open_ ? Sent::ok : Sent::closed;
  }

  awaitable<void> close(uint16_t code, std::string reason) override {
    if (!open_) co_return;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!writing_) co_await do_close();  // otherwise the writer closes once the queue is out
  }

  bool is_open() const override { return open_ && !close_code_; }
  bool accepted() const { return accepted_; }

 private:
  // Drops what is queued and marks the socket for closing with 1008 and `reason` (by the writer
  // once its write is out, or by the caller); a peer that does not read for 5 s more is cut at
  // the TCP level.
  void cut(std::string reason) {
    queue_.clear();
    lane_bytes_.clear();
    queued_bytes_ = 0;
    close_code_ = 1008;
    close_reason_ = reason.substr(0, 120);  // a close frame's reason is at most 123 bytes
    auto timer = std::make_shared<boost::asio::steady_timer>(ws_.get_executor(), std::chrono::seconds(5));
    timer->async_wait([this, timer, alive = alive_](boost::system::error_code ec) {
      if (ec || !*alive || !open_) return;
      open_ = false;
      boost::beast::get_lowest_layer(ws_).cancel();
    });
  }

  awaitable<void> do_close() {
    namespace websocket = boost::beast::websocket;
    open_ = false;
    websocket::close_reason why(static_cast<websocket::close_code>(close_code_), close_reason_);
    auto [ec] = co_await ws_.async_close(why, boost::asio::as_tuple(boost::asio::use_awaitable));
    (void)ec;
  }

  boost::beast::websocket::stream<S&> ws_;
  boost::beast::http::request<boost::beast::http::string_body>& msg_;
  const ServerOptions& opts_;
  struct Queued {
    std::string text;
    uint32_t lane;
  };
  std::deque<Queued> queue_;
  std::unordered_map<uint32_t, size_t> lane_bytes_;  // queued bytes per lane (lanes with some)
  size_t queued_bytes_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed (timers)
  bool writing_ = false, open_ = false, accepted_ = false;
  uint16_t close_code_ = 0;
  std::string close_reason_;
};

}  // namespace cn::http
