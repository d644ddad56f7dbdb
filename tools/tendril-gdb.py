# tools/tendril-gdb.py: gdb commands that see tendril's fibers, in a live
# process or a core file. Load it with `source tools/tendril-gdb.py`; then
#
#   tendril fibers            every hub and every fiber on it: kind, greenlet
#                             id and name, state, what a parked fiber waits on
#   tendril bt ID|NAME [ARGS] the call stack of one fiber, suspended or running
#                             (ARGS go to gdb's backtrace: full, a count, -frame-arguments all ...)
#   tendril bt all [ARGS]     the call stack of every fiber `tendril fibers` lists
#
# docs/gdb.md is the user's page.
#
# Where the data comes from. The program keeps `tendril_debug_hubs`
# (hub/src/hub_registry.cpp), a pointer to the registry's vector of live
# hubs. Each hub (hub/src/hub.hpp) has its thread's id and an intrusive list
# of the fiber records it knows (`all_`, linked through
# fiber_record::all_links): status, wait reason, and the greenlet's state
# (fiber/src/greenlet_state.hpp: id, name, saved context). The fiber layer's
# per-thread list of active greenlets (thread_state::active_head_) adds the
# greenlets that never parked: the hub's own, plain greenlets. Everything is
# read through the program's debug information, by member name: a layout
# change needs nothing here, a renamed member needs the same rename here
# (tests/tools checks both against a real program).
#
# How a suspended fiber's call stack is read. Its greenlet_state::context is
# the stack pointer Boost.Context's jump_fcontext left (x86-64 SysV):
#
#   context + 0x00  mxcsr, x87 control word
#   context + 0x08  r12, r13, r14, r15, rbx, rbp (8 bytes each)
#   context + 0x38  the return address: the label after tendril's inline jump
#
# tendril enters jump_fcontext from inline asm that first steps 128 bytes
# over the red zone and pushes the label (fiber/include/tendril/fiber/detail/
# switch_seam.hpp), so at that label the suspended function's own unwind
# information expects rsp = context + 0x38 + 8 + 128.
#
# A gdb Python unwinder (`_fiber_unwinder`) gives the innermost real frame
# of the selected thread that fiber's registers as its caller's; gdb's own
# unwinder then walks the fiber's frames from there, with the usual symbols,
# inline frames, arguments and source lines. A frame filter hides the
# thread's own frames below the fiber's, so `bt` prints the fiber's stack
# only (its frames keep gdb's numbers, from #1 or so). Nothing is written to
# the process: it works the same on a live process and on a core file.
#
# Rejected: writing the saved registers into the thread for the length of a
# `bt`, then restoring them: simpler, but impossible on a core file, and an
# interrupted command would leave the thread with a fiber's registers.
# Rejected: calling into the program (tendril::dump, greenlet::suspended_at):
# impossible on a core file, and a stopped program may hold the locks those
# need.

import struct

import gdb
import gdb.unwinder

# Boost.Context's saved context on x86-64, in 8-byte words from `context`.
_CONTEXT_WORDS = 8
_SAVED_REGISTERS = ("r12", "r13", "r14", "r15", "rbx", "rbp")  # words 1-6
_RETURN_WORD = 7
# From the return address's slot to the suspended function's stack pointer:
# the slot itself and the 128-byte red zone the inline jump stepped over.
_SLOT_TO_SP = 8 + 128


class _Fiber:
    """One fiber as the program's memory describes it."""

    def __init__(self, hub, state, record):
        self.hub = hub  # the _Hub it belongs to
        self.state = state  # gdb.Value: greenlet_state*, may be null for a record
        self.record = record  # gdb.Value: fiber_record*, or None (no record)

    @property
    def id(self):
        return int(self.state["id"]) if self.state else 0

    @property
    def name(self):
        return _std_string(self.state["name_"]) if self.state else ""

    @property
    def kind(self):
        if self.record is not None and int(self.record["task"]) != 0:
            return "task"
        if not self.state:
            return "greenlet"
        if int(self.state) == int(self.hub.value["hub_state_"]):
            return "hub"
        if bool(self.state["is_main"]):
            return "main"
        return "greenlet"

    @property
    def greenlet_status(self):
        return _enum_name(self.state["status"]) if self.state else "unstarted"

    @property
    def is_current(self):
        """True for the greenlet whose stack its thread is running."""
        return bool(self.state) and int(self.state["thread"]["current"]) == int(self.state)

    @property
    def status(self):
        """The hub's view (running/parked/ready); `suspended` for a greenlet with no record."""
        if self.greenlet_status == "unstarted":
            return "unstarted"
        if self.greenlet_status == "dead":
            return "dead"
        if self.is_current:
            return "running"
        if self.record is not None:
            status = _enum_name(self.record["status"])
            # A record says running for a fiber switched away by hand.
            return "suspended" if status == "running" else status
        return "suspended"

    def reason(self):
        """What a parked fiber waits on, as text; empty otherwise."""
        if self.record is None or _enum_name(self.record["status"]) != "parked":
            return ""
        reason = self.record["reason"]
        text = _c_string(reason["what"])
        detail = int(reason["detail"])
        if detail != 0:
            text += " detail %d" % detail
        if int(reason["object"]) != 0:
            text += " object 0x%x" % int(reason["object"])
        if bool(reason["remote"]):
            text += " (remote)"
        return text

    def describe(self):
        name = ' "%s"' % self.name if self.name else ""
        return "%s %d%s" % (self.kind, self.id, name)


class _Hub:
    def __init__(self, value):
        self.value = value  # gdb.Value: tendril::detail::hub (not a pointer)

    @property
    def id(self):
        return int(self.value["id_"])

    @property
    def tid(self):
        return int(self.value["tid_"])

    def fibers(self):
        """The hub's records, then the other active greenlets of its thread."""
        fibers = []
        seen = set()
        record = self.value["all_"]["head_"]
        while int(record) != 0:
            state = record["state"]
            if int(state) == 0 and int(record["task"]) != 0:
                state = record["task"]["greenlet"]["state_"]
            fibers.append(_Fiber(self, state if int(state) != 0 else None, record))
            seen.add(int(state))
            record = record["all_links"]["next"]
        thread = self.value["hub_state_"]["thread"]
        state = thread["active_head_"]
        while int(state) != 0:
            if int(state) not in seen:
                fibers.append(_Fiber(self, state, None))
                seen.add(int(state))
            state = state["next_active"]
        return fibers


def _std_string(value):
    """The text of a libstdc++ std::string, without pretty-printers."""
    length = int(value["_M_string_length"])
    if length == 0:
        return ""
    return value["_M_dataplus"]["_M_p"].string(length=min(length, 4096))


def _c_string(pointer):
    if int(pointer) == 0:
        return "(null)"
    try:
        return pointer.string()
    except (gdb.error, UnicodeDecodeError):
        return "<unreadable 0x%x>" % int(pointer)


def _enum_name(value):
    return str(value).rsplit("::", 1)[-1]


def _hubs():
    """Every live hub, in the registry's order."""
    symbol = gdb.lookup_global_symbol("tendril_debug_hubs") or gdb.lookup_static_symbol("tendril_debug_hubs")
    try:
        pointer = symbol.value() if symbol is not None else gdb.parse_and_eval("tendril_debug_hubs")
    except gdb.error:
        raise gdb.GdbError(
            "tendril: no symbol tendril_debug_hubs: the program does not link tendril, "
            "or was built without debug information (-g)"
        )
    if int(pointer) == 0:
        return []  # no hub was ever made
    impl = pointer.dereference()["_M_impl"]
    begin, end = impl["_M_start"], impl["_M_finish"]
    return [_Hub((begin + i).dereference().dereference()) for i in range(int(end - begin))]


def _gdb_thread(tid):
    """The gdb thread whose kernel thread id is `tid`, or None."""
    for inferior in gdb.inferiors():
        for thread in inferior.threads():
            if thread.ptid[1] == tid or (thread.ptid[1] == 0 and thread.ptid[0] == tid):
                return thread
    return None


def _all_fibers():
    return [fiber for hub in _hubs() for fiber in hub.fibers()]


def _find_fiber(key):
    fibers = _all_fibers()
    try:
        wanted = int(key, 0)
        matches = [f for f in fibers if f.id == wanted]
    except ValueError:
        matches = [f for f in fibers if f.name == key]
    if not matches:
        raise gdb.GdbError("tendril: no fiber with greenlet id or name %s (see `tendril fibers`)" % key)
    if len(matches) > 1:
        raise gdb.GdbError(
            "tendril: %d fibers are named %s; give a greenlet id: %s"
            % (len(matches), key, ", ".join(str(f.id) for f in matches))
        )
    return matches[0]


class _FiberUnwinder(gdb.unwinder.Unwinder):
    """Makes one fiber's suspended frames the callers of the thread's innermost real frame.

    Armed only while `tendril bt` prints; otherwise it declines every frame.
    """

    class _FrameId:
        def __init__(self, sp, pc):
            self.sp = sp
            self.pc = pc

    def __init__(self):
        super().__init__("tendril-fiber")
        self.level = None  # the frame to claim
        self.registers = None  # the fiber's: name -> int
        self.stack_id = 0

    def arm(self, level, registers, stack_id):
        self.level, self.registers, self.stack_id = level, registers, stack_id

    def disarm(self):
        self.level = self.registers = None

    def __call__(self, pending_frame):
        if self.registers is None or pending_frame.level() != self.level:
            return None
        word = gdb.lookup_type("unsigned long")
        # The claimed frame's id: its stack address is the fiber's, below
        # the fiber's first frame, so that gdb's check that callers sit
        # higher on the stack holds although the thread runs on another one.
        frame_id = self._FrameId(gdb.Value(self.stack_id).cast(word), pending_frame.read_register("rip"))
        info = pending_frame.create_unwind_info(frame_id)
        for name, value in self.registers.items():
            info.add_saved_register(name, gdb.Value(value).cast(word))
        return info


class _HideThreadFrames:
    """Frame filter: drops the thread's own frames (up to the claimed level),
    and what gdb finds beyond the fiber's first frame (make_fcontext's
    trampoline, where every greenlet's stack begins, has no caller)."""

    def __init__(self):
        self.name = "tendril-hide-thread-frames"
        self.priority = 1000
        self.enabled = True
        self.last_hidden = -1

    def filter(self, frames):
        for decorator in frames:
            frame = decorator.inferior_frame()
            if frame.level() <= self.last_hidden:
                continue
            yield decorator
            if frame.name() == "make_fcontext":
                return


_fiber_unwinder = _FiberUnwinder()
_hide_thread_frames = _HideThreadFrames()
gdb.unwinder.register_unwinder(None, _fiber_unwinder, replace=True)


def _saved_registers(fiber):
    """The registers a suspended fiber resumes with: name -> int; and where they are saved."""
    context = int(fiber.state["context"])
    if context == 0:
        raise gdb.GdbError("tendril: %s has no saved context" % fiber.describe())
    saved = gdb.selected_inferior().read_memory(context, 8 * _CONTEXT_WORDS)
    words = struct.unpack("<%dQ" % _CONTEXT_WORDS, bytes(saved))
    registers = dict(zip(_SAVED_REGISTERS, words[1:7]))
    slot = context + 8 * _RETURN_WORD
    registers["rip"] = words[_RETURN_WORD]
    registers["rsp"] = slot + _SLOT_TO_SP
    return registers, context


def _innermost_real_level():
    """The level of the selected thread's innermost frame that is not inlined."""
    frame = gdb.newest_frame()
    while frame is not None and frame.type() == gdb.INLINE_FRAME:
        frame = frame.older()
    if frame is None:
        raise gdb.GdbError("tendril: the selected thread has no frame to start from")
    return frame.level()


def _backtrace_suspended(fiber, args):
    registers, context = _saved_registers(fiber)
    level = _innermost_real_level()
    past_main = gdb.parameter("backtrace past-main")
    _fiber_unwinder.arm(level, registers, context)
    _hide_thread_frames.last_hidden = level
    gdb.frame_filters[_hide_thread_frames.name] = _hide_thread_frames
    try:
        # The thread's innermost frame may be main, where gdb would stop.
        gdb.execute("set backtrace past-main on", to_string=True)
        gdb.invalidate_cached_frames()
        gdb.execute(("backtrace " + args).strip())
    finally:
        _fiber_unwinder.disarm()
        del gdb.frame_filters[_hide_thread_frames.name]
        gdb.execute("set backtrace past-main %s" % ("on" if past_main else "off"), to_string=True)
        gdb.invalidate_cached_frames()


def _backtrace_running(fiber, args):
    thread = _gdb_thread(fiber.hub.tid)
    if thread is None:
        raise gdb.GdbError("tendril: %s runs on thread %d, which gdb does not know" % (fiber.describe(), fiber.hub.tid))
    before = gdb.selected_thread()
    thread.switch()
    _hide_thread_frames.last_hidden = -1  # only what lies beyond make_fcontext
    gdb.frame_filters[_hide_thread_frames.name] = _hide_thread_frames
    try:
        gdb.execute(("backtrace " + args).strip())
    finally:
        del gdb.frame_filters[_hide_thread_frames.name]
        if before is not None and before.is_valid():
            before.switch()


def _backtrace(fiber, args):
    status = fiber.status
    print("%s on hub %d (thread %d): %s" % (fiber.describe(), fiber.hub.id, fiber.hub.tid, status))
    if status == "running":
        _backtrace_running(fiber, args)
    elif status in ("unstarted", "dead"):
        print("  (no frames: the greenlet is %s)" % status)
    else:
        _backtrace_suspended(fiber, args)


class _TendrilPrefix(gdb.Command):
    """Commands that see tendril's hubs and fibers: tendril fibers, tendril bt."""

    def __init__(self):
        super().__init__("tendril", gdb.COMMAND_STACK, prefix=True)


class _TendrilFibers(gdb.Command):
    """tendril fibers: list every hub and every fiber on it.

One line per fiber: its greenlet id, kind (task, main, hub, greenlet), name,
state (running, parked, ready, suspended, unstarted) and, when parked, what it
waits on (the wait reason's text, detail and object)."""

    def __init__(self):
        super().__init__("tendril fibers", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        hubs = _hubs()
        if not hubs:
            print("no tendril hubs")
            return
        for hub in hubs:
            thread = _gdb_thread(hub.tid)
            where = " (gdb thread %d)" % thread.num if thread is not None else ""
            fibers = hub.fibers()
            print("hub %d: thread %d%s, %d fibers" % (hub.id, hub.tid, where, len(fibers)))
            for fiber in fibers:
                name = '"%s"' % fiber.name if fiber.name else "-"
                line = "  %6d  %-8s  %-20s  %-9s" % (fiber.id, fiber.kind, name, fiber.status)
                reason = fiber.reason()
                print((line + "  " + reason if reason else line).rstrip())


class _TendrilBacktrace(gdb.Command):
    """tendril bt ID|NAME|all [BACKTRACE-ARGS]: the call stack of a fiber.

ID is a greenlet id and NAME a task's name, as `tendril fibers` shows them;
`all` prints every fiber's. A running fiber's stack is its thread's (`bt`
on that thread). A suspended one's is read from the context it saved: its
frames are numbered from where the selected thread's own frames, hidden,
stop. BACKTRACE-ARGS go to gdb's backtrace (full, a count, -frame-arguments all)."""

    def __init__(self):
        super().__init__("tendril bt", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        words = argument.split(None, 1)
        if not words:
            raise gdb.GdbError("usage: tendril bt ID|NAME|all [backtrace arguments]")
        args = words[1] if len(words) > 1 else ""
        if words[0] == "all":
            for fiber in _all_fibers():
                _backtrace(fiber, args)
                print()
        else:
            _backtrace(_find_fiber(words[0]), args)


_TendrilPrefix()
_TendrilFibers()
_TendrilBacktrace()
