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

#include "http/server.hpp"

namespace cn::http {

template <typename S>
class WsConnection final : public WebSocket, public Upgrade {
 public:
  WsConnection(S& stream, boost::beast::http::request<boost::beast::http::string_body>& msg, const ServerOptions& opts)
      : ws_(stream), msg_(msg), opts_(opts) {}

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

  awaitable<bool> send(std::string message) override {
    if (!open_) co_return false;
    if (queued_bytes_ + message.size() > opts_.ws_max_queued_bytes) {
      // A client that does not read is cut, not buffered for.
      open_ = false;
      queue_.clear();
      queued_bytes_ = 0;
      boost::beast::get_lowest_layer(ws_).cancel();
      co_return false;
    }
    queued_bytes_ += message.size();
    queue_.push_back(std::move(message));
    if (writing_) co_return open_;
    writing_ = true;
    while (!queue_.empty() && open_) {
      std::string m = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= m.size();
      ws_.text(true);
      auto [ec, n] = co_await ws_.async_write(boost::asio::buffer(m), boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) open_ = false;
    }
    writing_ = false;
    if (open_ && close_code_) co_await do_close();
    co_return open_;
  }

  awaitable<void> close(uint16_t code, std::string reason) override {
    if (!open_) co_return;
    close_code_ = code;
    close_reason_ = std::move(reason);
    if (!writing_) co_await do_close();  // otherwise the writer closes once the queue is out
  }

  bool is_open() const override { return open_; }
  bool accepted() const { return accepted_; }

 private:
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
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false, open_ = false, accepted_ = false;
  uint16_t close_code_ = 0;
  std::string close_reason_;
};

}  // namespace cn::http
