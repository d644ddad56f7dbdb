#!/usr/bin/env python3
"""check_gdb.py MODE GDB SCRIPT PROGRAM WORKDIR: tests tools/tendril-gdb.py.

Runs gdb on gdb_target (PROGRAM), stopped at tendril_gdb_breakpoint_here,
and checks what the script's commands print:

  live  in the stopped process: `tendril fibers` lists both hubs and the
        tasks alpha, beta (main thread's hub) and gamma (the other thread's)
        with their states and wait reasons; `tendril bt NAME` shows each
        task's parking function; afterwards plain `bt` shows the thread's
        own frames again (the script left nothing behind).
  core  the same from a core file written with generate-core-file (gcore),
        with `tendril bt ID` by greenlet id, from another thread than the
        one that stopped, and `tendril bt all`.

Exits 0 on success, 1 with a report on failure: also when gdb is missing
(tools/setup-deps installs it) or may not trace a program here.
"""

import os
import re
import resource
import shutil
import subprocess
import sys

MARK = "@@@ "
CORE_LIMIT = 1 << 30  # bytes; gdb_target's core is about 90 MB


def cannot_run(message):
    print("check_gdb: " + message)
    sys.exit(1)


def limit_file_size():
    """A core file larger than this is a bug (a sanitized program's reserved
    address space written out): fail rather than fill the disk."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (CORE_LIMIT, CORE_LIMIT))


def run_gdb(gdb, target, commands):
    """Runs gdb in batch mode on `target` (program, or program and core);
    returns its output with each command's output after a marker line."""
    argv = [gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set width 0"]
    for command in commands:
        argv += ["-ex", "echo %s%s\\n" % (MARK, command), "-ex", command]
    argv += target
    env = dict(os.environ)
    # LeakSanitizer's exit check would ptrace the traced program.
    env["ASAN_OPTIONS"] = "detect_leaks=0:" + env.get("ASAN_OPTIONS", "")
    result = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=240,
        env=env,
        preexec_fn=limit_file_size,
    )
    return result.stdout


def sections(output):
    """The output of each command, keyed by the command."""
    parts = {}
    current = None
    for line in output.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK):]
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return {command: "\n".join(lines) for command, lines in parts.items()}


class Checker:
    def __init__(self, output):
        self.output = output
        self.failures = []

    def expect(self, text, pattern, what):
        if not re.search(pattern, text, re.MULTILINE):
            self.failures.append("%s: no match for /%s/" % (what, pattern))

    def reject(self, text, pattern, what):
        if re.search(pattern, text, re.MULTILINE):
            self.failures.append("%s: unexpected /%s/" % (what, pattern))

    def finish(self):
        if self.failures:
            print("check_gdb: FAILED\n  " + "\n  ".join(self.failures))
            print("---- gdb's output ----\n" + self.output)
            sys.exit(1)
        print(self.output)
        print("check_gdb: ok")


FIBER = r"^\s+(\d+)\s+task\s+\"%s\"\s+%s"


def check_fibers(check, text):
    check.expect(text, r"^hub \d+: thread \d+ \(gdb thread \d+\), \d+ fibers$", "tendril fibers")
    check.expect(text, r"^\s+\d+\s+main\s+-\s+running$", "tendril fibers: the stopped main greenlet")
    check.expect(text, r"^\s+\d+\s+hub\s+\"hub\"\s+suspended$", "tendril fibers: a hub's own greenlet")
    check.expect(text, FIBER % ("alpha", r"parked\s+sleep$"), "tendril fibers: alpha")
    check.expect(text, FIBER % ("beta", r"parked\s+gdb_target_gate detail 4242$"), "tendril fibers: beta")
    check.expect(text, FIBER % ("gamma", r"parked\s+sleep$"), "tendril fibers: gamma")
    if len(re.findall(r"^hub \d+:", text, re.MULTILINE)) != 2:
        check.failures.append("tendril fibers: expected 2 hubs")


def check_backtrace(check, text, name, function, what):
    check.expect(text, r"^task \d+ \"%s\" on hub \d+ \(thread \d+\): parked$" % name, what)
    # The fiber's frames, innermost first: the inline jump, the hub's park,
    # the task's own function, ..., the greenlet's first frame; every one
    # found through unwind information (gdb's heuristics, used when the
    # registers are wrong, leave frames without a function on the way).
    frames = re.findall(r"^#(\d+) .*$", text, re.MULTILINE)
    lines = [line for line in text.splitlines() if line.startswith("#")]
    if not lines or "tendril::detail::jump_context" not in lines[0]:
        check.failures.append("%s: the first frame is not the inline jump_context" % what)
    numbers = [int(n) for n in frames]
    if not numbers or numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        check.failures.append("%s: frames missing or not numbered in order" % what)
    check.expect(text, r"^#\d+ .*tendril::detail::hub::park", what)
    check.expect(text, r"^#\d+ .*%s\(\) \(\) at .*gdb_target\.cpp:\d+$" % function, what)
    check.expect(text, r"^#\d+ .*make_fcontext \(\)", what)
    check.reject(text, r"^#\d+ +0x[0-9a-f]+ in +(\?\? *)?\(\)", what)
    check.reject(text, r"tendril_gdb_breakpoint_here|Python Exception|Error occurred", what)
    check.reject(text, r"corrupt stack|Backtrace stopped", what)


def check_clean(check, text, what):
    """After the script's bt, the thread's own bt is back."""
    check.expect(text, r"^#0 .*tendril_gdb_breakpoint_here", what)
    check.expect(text, r"^#1 .* in main \(\)", what)
    check.reject(text, r"gdb_target_(alpha|beta|gamma)|jump_context", what)


def live(gdb, script, program):
    commands = [
        "break tendril_gdb_breakpoint_here",
        "run",
        "source " + script,
        "tendril fibers",
        "tendril bt alpha",
        "tendril bt beta",
        "tendril bt gamma",
        "bt",
        "kill",
    ]
    output = run_gdb(gdb, [program], commands)
    if "hit Breakpoint 1" not in output:
        cannot_run("gdb could not run the program to its breakpoint (ptrace not allowed?):\n" + output)
    parts = sections(output)
    check = Checker(output)
    check_fibers(check, parts.get("tendril fibers", ""))
    check_backtrace(check, parts.get("tendril bt alpha", ""), "alpha", "gdb_target_alpha_sleeps", "tendril bt alpha")
    check_backtrace(check, parts.get("tendril bt beta", ""), "beta", "gdb_target_beta_parks", "tendril bt beta")
    check_backtrace(check, parts.get("tendril bt gamma", ""), "gamma", "gdb_target_gamma_sleeps", "tendril bt gamma")
    check_clean(check, parts.get("bt", ""), "bt after tendril bt")
    check.finish()


def core(gdb, script, program, workdir):
    core_file = os.path.join(workdir, "gdb_target.core")
    if os.path.exists(core_file):
        os.remove(core_file)
    output = run_gdb(
        gdb, [program], ["break tendril_gdb_breakpoint_here", "run", "generate-core-file " + core_file, "kill"]
    )
    if "hit Breakpoint 1" not in output:
        cannot_run("gdb could not run the program to its breakpoint (ptrace not allowed?):\n" + output)
    if "Saved corefile" not in output or not os.path.exists(core_file):
        print("check_gdb: FAILED: gdb wrote no core file (larger than %d bytes?)\n%s" % (CORE_LIMIT, output))
        sys.exit(1)
    try:
        first = run_gdb(gdb, [program, core_file], ["source " + script, "tendril fibers"])
        found = re.search(FIBER % ("alpha", "parked"), sections(first).get("tendril fibers", ""), re.MULTILINE)
        alpha_id = found.group(1) if found else "no-alpha-listed"
        commands = [
            "source " + script,
            "tendril fibers",
            "tendril bt " + alpha_id,
            "thread 2",  # a thread stopped elsewhere (the monitor or gamma's thread)
            "tendril bt beta",
            "thread 1",
            "bt",
            "tendril bt all",
        ]
        output = run_gdb(gdb, [program, core_file], commands)
    finally:
        os.remove(core_file)
    parts = sections(output)
    check = Checker(output)
    check_fibers(check, parts.get("tendril fibers", ""))
    check_backtrace(check, parts.get("tendril bt " + alpha_id, ""), "alpha", "gdb_target_alpha_sleeps", "tendril bt ID")
    beta = parts.get("tendril bt beta", "")
    check_backtrace(check, beta, "beta", "gdb_target_beta_parks", "tendril bt from thread 2")
    check_clean(check, parts.get("bt", ""), "bt after tendril bt")
    every = parts.get("tendril bt all", "")
    for function in ("gdb_target_alpha_sleeps", "gdb_target_beta_parks", "gdb_target_gamma_sleeps", "main_loop"):
        check.expect(every, r"^#\d+ .*%s" % function, "tendril bt all")
    check.reject(every, r"Python Exception|Error occurred", "tendril bt all")
    check.finish()


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in ("live", "core"):
        print(__doc__)
        sys.exit(2)
    mode, gdb, script, program, workdir = sys.argv[1:]
    if shutil.which(gdb) is None:
        cannot_run("gdb not found (%s); tools/setup-deps installs it" % gdb)
    if mode == "live":
        live(gdb, script, program)
    else:
        core(gdb, script, program, workdir)


if __name__ == "__main__":
    main()
