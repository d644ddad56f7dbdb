#pragma once
// hiredis_client: a test's own blocking hiredis connection to a
// tendril::testing::redis server, to set keys up and look at them.
//
//   redis_connection c = redis_connect(server);
//   redis_reply r = redis_command(c.get(), "GET %s", key);
//
// Cooperative once patch_all() has run, like any hiredis call.

#include <hiredis/hiredis.h>

#include <cstdarg>
#include <memory>
#include <stdexcept>
#include <string>

#include "support/redis.hpp"

namespace tendril::testing {

using redis_connection = std::unique_ptr<redisContext, decltype(&redisFree)>;
using redis_reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

/// redis_connect(server) opens a connection with hiredis's blocking
/// redisConnect. Errors: std::runtime_error with hiredis's message.
inline redis_connection redis_connect(const redis& server) {
  redis_connection c(redisConnect(server.host().c_str(), server.port()), &redisFree);
  if (c == nullptr) throw std::runtime_error("redisConnect: out of memory");
  if (c->err != 0) throw std::runtime_error(std::string("redisConnect: ") + c->errstr);
  return c;
}

/// redis_command(c, format, ...) sends a command with the blocking
/// redisCommand and returns its reply. Errors: std::runtime_error with
/// hiredis's message when the connection fails, or the server's error reply.
inline redis_reply redis_command(redisContext* c, const char* format, ...) {
  va_list args;
  va_start(args, format);
  redis_reply r(static_cast<redisReply*>(redisvCommand(c, format, args)), &freeReplyObject);
  va_end(args);
  if (r == nullptr) throw std::runtime_error(std::string(format) + ": " + c->errstr);
  if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(std::string(format) + ": " + r->str);
  return r;
}

}  // namespace tendril::testing
