"""A seccomp filter for the worker: the system calls that reach state shared beyond the worker
(kept by the kernel per uid or host-wide, or other processes' memory) fail with EPERM.

Attention code needs none of them. What is denied, and why:
- SysV IPC (shm*, sem*, msg*) and POSIX message queues: objects that outlive the process and
  that another student (same uid, or same IPC namespace) could open by a fixed key or name;
- keyrings (add_key, keyctl, request_key): per uid, kept across batches;
- ptrace, process_vm_readv/writev, kcmp: another process's memory (in "basic" mode, the
  grader's own, when it runs as the same user);
- bpf, perf_event_open, userfaultfd, io_uring_*: kernel attack surface, host-wide state;
- unshare, setns, clone with a CLONE_NEW* flag, chroot, mount: a new namespace (and the
  capabilities it brings) or a way around the sandbox's root. clone3 answers ENOSYS, so that
  the C library falls back to clone, whose flags the filter can read.
A system call of another architecture (i386 or x32 on x86_64) answers ENOSYS. The filter is
raw classic BPF installed with prctl(PR_SET_SECCOMP); it needs no_new_privs set first.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_ABS_W, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
NR_OFFSET, ARCH_OFFSET, ARG0_OFFSET = 0, 4, 16  # struct seccomp_data, little-endian
X32_BIT = 0x40000000
CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NEW_ANY |= 0x20000000 | 0x40000000  # NS, CGROUP, UTS, IPC, USER, PID, NET

DENIED = (
    "shmget shmat shmctl shmdt semget semop semctl semtimedop msgget msgsnd msgrcv msgctl "
    "mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
    "add_key request_key keyctl ptrace process_vm_readv process_vm_writev kcmp "
    "bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register "
    "unshare setns chroot mount"
).split()

# name -> number, per architecture (audit arch, table)
_X86_64 = {
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66,
    "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "semtimedop": 220,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243,
    "mq_notify": 244, "mq_getsetattr": 245, "add_key": 248, "request_key": 249, "keyctl": 250,
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "bpf": 321,
    "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "unshare": 272, "setns": 308, "chroot": 161, "mount": 165,
    "clone": 56, "clone3": 435,
}  # fmt: skip
_AARCH64 = {
    "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191,
    "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196, "shmdt": 197,
    "mq_open": 180, "mq_unlink": 181, "mq_timedsend": 182, "mq_timedreceive": 183,
    "mq_notify": 184, "mq_getsetattr": 185, "add_key": 217, "request_key": 218, "keyctl": 219,
    "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272, "bpf": 280,
    "perf_event_open": 241, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "unshare": 97, "setns": 268, "chroot": 51, "mount": 40,
    "clone": 220, "clone3": 435,
}  # fmt: skip
ARCHES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def program(machine: str) -> bytes | None:
    """The filter's instructions for `machine` (platform.machine()), or None if unknown."""
    if machine not in ARCHES:
        return None
    audit_arch, table = ARCHES[machine]
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    ops = [_op(LD_ABS_W, ARCH_OFFSET), _op(JEQ, audit_arch, 1, 0), _op(RET, enosys)]
    ops.append(_op(LD_ABS_W, NR_OFFSET))
    if machine == "x86_64":
        ops += [_op(JGE, X32_BIT, 0, 1), _op(RET, enosys)]
    for name in DENIED:
        ops += [_op(JEQ, table[name], 0, 1), _op(RET, eperm)]
    ops += [_op(JEQ, table["clone3"], 0, 1), _op(RET, enosys)]
    ops += [
        _op(JEQ, table["clone"], 0, 3),
        _op(LD_ABS_W, ARG0_OFFSET),  # the low 32 bits of the flags
        _op(JSET, CLONE_NEW_ANY, 0, 1),
        _op(RET, eperm),
        _op(RET, RET_ALLOW),
    ]
    return b"".join(ops)


def install(libc: ctypes.CDLL) -> bool:
    """Install the filter on this thread (and every process it starts after); False where the
    architecture is unknown. no_new_privs must be set already."""
    code = program(platform.machine())
    if code is None:
        return False

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    prog = Prog(len(code) // 8, code)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")
    return True
