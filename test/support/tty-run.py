"""Runs a terminal program in a pseudo-terminal (as a person at a terminal would), waits until its
screen output matches a pattern, types a key, and waits for it to exit. Prints what it drew and
exits with its exit code. Bounded: after --timeout seconds it is killed and the exit code is 124.

usage: tty-run.py --until REGEX [--key q] [--timeout 20] -- COMMAND [ARGS...]
"""
import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--until', required=True)
    p.add_argument('--key', default='q')
    p.add_argument('--timeout', type=float, default=20.0)
    p.add_argument('command', nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.command[1:] if a.command and a.command[0] == '--' else a.command
    pid, fd = pty.fork()
    if pid == 0:
        # A roomy screen, set before the program asks curses for its size.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 50, 200, 0, 0))
        os.environ['TERM'] = 'xterm'
        os.execvp(cmd[0], cmd)
    until = re.compile(a.until.encode())
    out = b''
    deadline = time.monotonic() + a.timeout
    typed = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.stdout.buffer.write(out)
            sys.exit(124)
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b''
            if not chunk:
                break
            out += chunk
        if not typed and until.search(out):
            os.write(fd, a.key.encode())
            typed = True
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
