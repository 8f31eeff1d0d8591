// Awaitable bridges from coroutines to the store executor's threads. The coroutine suspends;
// the store thread runs `fn`; the result is posted back to the coroutine's executor.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <memory>

#include "store/executor.hpp"

// Header-only: included only by components that already await (runtime, memory); store/ itself
// stays free of Asio.

namespace cn::store {

namespace net = boost::asio;

// Runs `fn` on a reader connection and returns its result.
// Not coroutines themselves: they return the awaitable of async_initiate, so the callable moves
// straight into the initiation (no coroutine frame copies it; GCC 12 mishandles such copies).
template <typename T>
net::awaitable<T> read_async(Executor& ex, std::function<T(Database&)> fn) {
  return net::async_initiate<decltype(net::use_awaitable), void(T)>(
      [&ex, fn = std::move(fn)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        ex.read([h, fn = std::move(fn)](Database& db) mutable {
          auto result = std::make_shared<T>(fn(db));
          auto hex = net::get_associated_executor(*h);
          net::post(hex, [h, result]() mutable { (*h)(std::move(*result)); });
        });
      },
      net::use_awaitable);
}

// Runs `fn` in the writer's next group commit; returns once that commit is durable (or failed).
inline net::awaitable<Status> write_async(Executor& ex,
                                          std::function<Status(Database&)> fn) {
  return net::async_initiate<decltype(net::use_awaitable), void(Status)>(
      [&ex, fn = std::move(fn)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        ex.submit(std::move(fn), [h](Status st) mutable {
          auto hex = net::get_associated_executor(*h);
          net::post(hex, [h, st = std::move(st)]() mutable { (*h)(std::move(st)); });
        });
      },
      net::use_awaitable);
}

}  // namespace cn::store
