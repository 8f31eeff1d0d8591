// The sandbox's seccomp filter: a BPF program (built once with libseccomp) that bubblewrap
// installs in the sandboxed process before it runs the code. It refuses, with EPERM, the system
// calls a snippet never needs and an escape would: new namespaces, mounts, ptrace and reading
// other processes' memory, kernel modules and kexec, bpf, perf events, userfaultfd, io_uring,
// keyrings, file handles by number. Foreign architectures' calls kill the process.
//
// Threads: filter_program() is computed once and is safe from any thread.
#pragma once

#include <string>

namespace cn::tools::sandbox {

// The compiled program, as bubblewrap's --seccomp expects it (an array of sock_filter); empty
// when libseccomp failed (the sandbox then runs without the filter and logs it once).
const std::string& filter_program();

}  // namespace cn::tools::sandbox
