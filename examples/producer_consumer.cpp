// producer_consumer: asyncio's queue lesson, with fibers.
//
// Two producers put numbered jobs into a joinable_queue that holds at most
// two: when it is full, put parks the producer until the consumer takes a
// job (backpressure), and the parked producers go on in the order they
// started waiting. The consumer marks each job task_done; main joins the
// queue (every job handled), then closes it, which ends the consumer's loop
// with queue_closed. Everything runs on one hub and switches only where a
// fiber parks or yields, so the output depends only on the program
// (examples/producer_consumer.expected holds it).

#include <iostream>
#include <string>

#include <tendril/tendril.hpp>

int main() {
  tendril::run([] {
    tendril::joinable_queue<std::string> jobs(2, "jobs");

    auto produce = [&](const std::string& name, int count) {
      for (int i = 1; i <= count; ++i) {
        std::string job = name + std::to_string(i);
        if (jobs.full()) std::cout << "  " << name << " waits: " << jobs.describe() << " is full\n";
        jobs.put(job);  // parks while the queue holds two jobs
        std::cout << "  " << name << " put " << job << '\n';
        tendril::yield();  // let the others run, as real work would
      }
    };

    int handled = 0;
    auto consume = [&] {
      try {
        for (;;) {
          std::string job = jobs.get();  // parks while the queue is empty
          std::cout << "consumer got " << job << '\n';
          ++handled;
          tendril::yield();
          jobs.task_done();
        }
      } catch (const tendril::queue_closed&) {
        std::cout << "consumer: " << jobs.describe() << " is closed and empty\n";
      }
    };

    auto consumer = tendril::spawn(tendril::spawn_options{"consumer"}, consume);
    auto a = tendril::spawn(tendril::spawn_options{"a"}, produce, "a", 4);
    auto b = tendril::spawn(tendril::spawn_options{"b"}, produce, "b", 4);
    tendril::joinall({a, b});
    jobs.join();  // until every job put has been marked task_done
    std::cout << "all " << handled << " jobs handled\n";
    jobs.close();
    consumer.join();
  });
}
