#pragma once
// The umbrella header: everything in tendril::tendril. Not <tendril/patch.hpp>:
// it belongs to tendril::patch, which needs the shared runtime (tendril::shared).

#include <tendril/error.hpp>
#include <tendril/fiber/fiber_local.hpp>
#include <tendril/fiber/generator.hpp>
#include <tendril/fiber/greenlet.hpp>
#include <tendril/fiber/stack.hpp>
#include <tendril/fiber/trace.hpp>
#include <tendril/hub/hub.hpp>
#include <tendril/hub/join.hpp>
#include <tendril/hub/park.hpp>
#include <tendril/hub/run.hpp>
#include <tendril/hub/sleep.hpp>
#include <tendril/hub/task.hpp>
#include <tendril/hub/timeout.hpp>
#include <tendril/io/dns.hpp>
#include <tendril/io/endpoint.hpp>
#include <tendril/io/file.hpp>
#include <tendril/io/http.hpp>
#include <tendril/io/http_server.hpp>
#include <tendril/io/signal.hpp>
#include <tendril/io/socket.hpp>
#include <tendril/io/stream_server.hpp>
#include <tendril/io/thread_pool.hpp>
#include <tendril/io/wait.hpp>
#include <tendril/sync/async_result.hpp>
#include <tendril/sync/channel.hpp>
#include <tendril/sync/condition_variable.hpp>
#include <tendril/sync/event.hpp>
#include <tendril/sync/group.hpp>
#include <tendril/sync/mutex.hpp>
#include <tendril/sync/pool.hpp>
#include <tendril/sync/queue.hpp>
#include <tendril/sync/semaphore.hpp>
#include <tendril/sync/shared_mutex.hpp>
#include <tendril/sync/wait_group.hpp>
