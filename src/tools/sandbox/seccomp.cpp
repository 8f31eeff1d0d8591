// The seccomp filter (see seccomp.hpp), compiled with libseccomp and exported as raw BPF.
#include "tools/sandbox/seccomp.hpp"

#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <sched.h>

#include "base/log.hpp"

namespace cn::tools::sandbox {

namespace {

std::string build() {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) return {};
  const int deny = SCMP_ACT_ERRNO(EPERM);
  bool ok = true;
  for (int call : {SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev), SCMP_SYS(mount),
                   SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(unshare), SCMP_SYS(setns),
                   SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(reboot), SCMP_SYS(kexec_load),
                   SCMP_SYS(kexec_file_load), SCMP_SYS(init_module), SCMP_SYS(finit_module), SCMP_SYS(delete_module),
                   SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd), SCMP_SYS(keyctl),
                   SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
                   SCMP_SYS(io_uring_register), SCMP_SYS(open_by_handle_at), SCMP_SYS(name_to_handle_at),
                   SCMP_SYS(acct), SCMP_SYS(syslog), SCMP_SYS(quotactl), SCMP_SYS(lookup_dcookie),
                   SCMP_SYS(fsopen), SCMP_SYS(fsmount), SCMP_SYS(move_mount), SCMP_SYS(open_tree)})
    ok = ok && seccomp_rule_add(ctx, deny, call, 0) == 0;
  // clone() may make threads and processes, not namespaces; clone3's flags sit in memory where a
  // filter cannot read them, so it is refused with ENOSYS (libc then falls back to clone()).
  ok = ok && seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)) == 0;
  ok = ok && seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNS, CLONE_NEWNS)) == 0;
  ok = ok && seccomp_rule_add(ctx, deny, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWNET, CLONE_NEWNET)) == 0;
  ok = ok && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
  std::string out;
  if (ok) {
    int fd = ::memfd_create("cn-seccomp", MFD_CLOEXEC);
    if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
      off_t size = ::lseek(fd, 0, SEEK_END);
      out.resize(static_cast<size_t>(size > 0 ? size : 0));
      if (::pread(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) out.clear();
    }
    if (fd >= 0) ::close(fd);
  }
  seccomp_release(ctx);
  if (out.empty()) spdlog::warn("code sandbox: the seccomp filter could not be built; sandboxes run without it");
  return out;
}

}  // namespace

const std::string& filter_program() {
  static const std::string program = build();
  return program;
}

}  // namespace cn::tools::sandbox
