#pragma once
// What the hub needs to schedule greenlets without handles on its hot paths.
// Not API.

namespace tendril::detail {

class greenlet_state;

/// The tag (see set_greenlet_tag) of the greenlet running on this thread,
/// kept in step with every switch so that reading it is one thread-local
/// load; null on a thread without greenlets. Read it with
/// current_greenlet_tag().
extern constinit thread_local const void* running_greenlet_tag __attribute__((tls_model("initial-exec")));

inline const void* current_greenlet_tag() noexcept { return running_greenlet_tag; }

/// set_greenlet_tag(s, tag) attaches one word to `s`, a greenlet of the
/// calling thread, for another layer: the hub tags a fiber's greenlet with
/// its fiber record, which is how sync/ learns the calling fiber without a
/// call. Null removes it. The tagger clears a tag before what it points to
/// goes, unless the greenlet is dead by then.
void set_greenlet_tag(greenlet_state* s, const void* tag) noexcept;

/// current_greenlet_state() is the calling thread's current greenlet (its
/// main greenlet is created on first use); no reference is taken.
greenlet_state* current_greenlet_state();

/// retain_state(s) adds a strong reference to `s` and returns it, for
/// `greenlet(retain_state(s))`.
greenlet_state* retain_state(greenlet_state* s) noexcept;

/// set_finish_target(self, target): when `self`'s run returns a value, control
/// goes to `target` instead of its parent, which lets the hub hand a finished
/// task's thread straight to the next ready fiber. `target` (null: the
/// parent again) must be a live greenlet of the same thread that ignores the
/// value it receives; an exception escaping run still goes to the parent.
void set_finish_target(greenlet_state* self, greenlet_state* target) noexcept;

/// set_deferred_release_hook(hook, arg) makes the calling thread call
/// hook(arg) from any thread that queues the release of one of its
/// greenlets (see greenlet's destructor); null removes it. The hook runs
/// under a lock and must only signal (the hub's ev_async).
void set_deferred_release_hook(void (*hook)(void*) noexcept, void* arg);

/// process_deferred_releases() collects the calling thread's greenlets whose
/// last handles other threads dropped; cheap when there are none.
void process_deferred_releases() noexcept;

/// abandon_other_greenlets() is for a child process just forked: every
/// greenlet of the calling thread but the current one and the main one is
/// suspended in code of the parent's, which must not run again here. Each
/// is marked abandoned (switching to it throws; it is never unwound or
/// freed) and leaves the thread's active list; the current greenlet's
/// parent becomes the main greenlet. Only the forking thread exists in the
/// child, so this is all of them.
void abandon_other_greenlets() noexcept;

}  // namespace tendril::detail
