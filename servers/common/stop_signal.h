// How the server binaries (kos-server, kos-grpc-server, `kos serve`) stop on
// SIGTERM/SIGINT. A signal may land on any thread (OpenBLAS and gRPC start
// theirs, some before main, so a mask set in main does not cover them): the
// handler only writes to a pipe, and a normal thread waits on it and shuts the
// servers down outside signal context.
#ifndef KOS_SERVERS_COMMON_STOP_SIGNAL_H_
#define KOS_SERVERS_COMMON_STOP_SIGNAL_H_

#include <errno.h>
#include <signal.h>
#include <unistd.h>

namespace kos::server {

inline int stop_pipe[2] = {-1, -1};

// Async-signal-safe; a full pipe means a stop is already pending.
inline void RequestStop(int = 0) {
  int saved = errno;
  char c = 's';
  if (write(stop_pipe[1], &c, 1) < 0) {
  }
  errno = saved;
}

// Routes SIGTERM and SIGINT to the pipe and ignores SIGPIPE. False if the
// pipe cannot be created.
inline bool InstallStopSignals() {
  if (pipe(stop_pipe) != 0) return false;
  struct sigaction sa = {};
  sa.sa_handler = RequestStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return true;
}

// Blocks until a stop signal or RequestStop().
inline void WaitForStop() {
  char c = 0;
  while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
}

}  // namespace kos::server

#endif  // KOS_SERVERS_COMMON_STOP_SIGNAL_H_
